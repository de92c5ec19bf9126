"""The emulator: one ASGI app on one port serving, in this order,

1. `ws://HOST:PORT/ws` — the template's WebSocket API (others at `/ws/<LogicalId>`);
2. `/{stage}/@connections/{id}` and `/@connections/{id}` — the Management API, for
   requests signed with the functions' credentials only (management_auth.py);
3. the HTTP API routes of the template (Lambda functions with payload 2.0; Lambda Web
   Adapter functions through their ASGI app);
4. the static site (`static=DIR`), with the single-page-app fallback;
5. anything else: 404 `{"message":"Not Found"}`.

`start(...)` runs it under uvicorn in a thread (tests, benchmarks); `serve(...)` in the
foreground (`python -m local.gateway`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import environment, http, ids, management
from .connections import Registry
from .functions import InvokeOverride, Invoker
from .limits import Limits
from .management_auth import ManagementAuth
from .protocol import uvicorn_ws_options
from .spec import GatewaySpec, HttpRoute
from .static import StaticSite
from .template import load_template
from .webadapter import WebApps, adapter_scope
from .websocket import WebSocketApi

log = logging.getLogger("local.gateway")
Reply = tuple[int, list[tuple[str, str]], bytes]


class BodyTooLarge(Exception):
    pass


class Gateway:
    """The ASGI app."""

    def __init__(self, spec: GatewaySpec, *, limits: Limits | None = None, static_dir: str | Path | None = None,
                 invoke_override: InvokeOverride | None = None, max_workers: int = 1024) -> None:
        self.spec = spec
        self.limits = limits or Limits()
        self.invoker = Invoker(spec.functions, max_workers=max_workers, override=invoke_override)
        self.registry = Registry(self.limits)
        self.management_auth = ManagementAuth(spec.region)
        self.router = http.HttpRouter(spec.http_routes)
        self.web_apps = WebApps(self.invoker)
        prefixes = {r.path.strip("/").split("/", 1)[0] for r in spec.http_routes if r.path and r.path != "/"}
        self.static = StaticSite(static_dir, frozenset(p for p in prefixes if "{" not in p)) if static_dir else None
        self.websockets: dict[str, WebSocketApi] = {}
        for api in spec.ws_apis:
            handler = WebSocketApi(api, self.invoker, self.registry, self.limits, spec.region)
            self.websockets[api.path] = handler
            self.websockets.setdefault(f"/ws/{api.logical_id}", handler)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            handler = self.websockets.get(scope["path"].rstrip("/") or "/")
            if handler is None:
                await send({"type": "websocket.close", "code": 1008})
                return
            await handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.registry.close_all()
                await self.web_apps.shutdown()
                self.invoker.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method, path = scope["method"], scope["path"]
        found = management.PATH.match(path)
        if found:
            try:  # the whole body: the signature covers it (over 128 KB is then a 413)
                body = await _read_body(receive, max(self.limits.http_body_bytes, self.limits.post_bytes + 1))
            except BodyTooLarge:
                await _reply(send, http.json_error(413, "Request Entity Too Large"))
                return
            reply = self.management_auth.refusal(scope, body) or await management.handle(
                method, found["connection_id"], body, self.registry, self.limits)
            await _reply(send, reply)
            return
        matched = self.router.match(method, path)
        if matched is not None:
            route, params = matched
            if self.spec.functions[route.function_id].web_adapter:
                await self.web_adapter(scope, receive, send, route)
            else:
                await _reply(send, await self.lambda_proxy(scope, receive, route, params))
            return
        if self.static is not None:
            response = self.static.response(method, path)
            if response is not None:
                await response(scope, receive, send)
                return
        await _reply(send, http.json_error(404, "Not Found"))

    async def lambda_proxy(self, scope: dict[str, Any], receive: Any, route: HttpRoute,
                           params: dict[str, str]) -> Reply:
        request_id = ids.gateway_id()
        try:
            body = await _read_body(receive, self.limits.http_body_bytes)
        except BodyTooLarge:
            return http.json_error(413, "Request Entity Too Large")
        event = http.build_event(scope, body, route, params, request_id, ids.now_ms())
        function = self.spec.functions[route.function_id]
        integration_timeout = route.timeout_s or self.limits.http_integration_timeout_s
        result = await self.invoker.invoke(route.function_id, event, min(integration_timeout, function.timeout_s))
        if result.timed_out:
            # Past the function's Timeout, Lambda fails the invocation (500); past the
            # integration timeout, API Gateway answers 503.
            reply = (http.json_error(500, "Internal Server Error") if function.timeout_s < integration_timeout
                     else http.json_error(503, "Service Unavailable"))
        elif not result.ok:
            reply = http.json_error(500, "Internal Server Error")
        else:
            try:
                reply = http.to_response(result.value)
            except http.InvalidResponse as exc:
                log.error("%s: invalid format 2.0 response: %s", route.function_id, exc)
                reply = http.json_error(500, "Internal Server Error")
        status, headers, payload = reply
        return status, headers + [("apigw-requestid", request_id)], payload

    async def web_adapter(self, scope: dict[str, Any], receive: Any, send: Any, route: HttpRoute) -> None:
        try:
            app = await self.web_apps.get(route.function_id)
        except Exception:
            log.exception("%s: the web app failed to load", route.function_id)
            await _reply(send, http.json_error(500, "Internal Server Error"))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        context = http.request_context(scope, route, ids.gateway_id(), ids.now_ms(), headers)
        await app(adapter_scope(scope, context), receive, send)


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _reply(send: Any, reply: Reply) -> None:
    status, headers, body = reply
    # The function's own Content-Length (Mangum passes FastAPI's on) is replaced, not repeated:
    # API Gateway sends one, for the body it actually sends.
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k.lower() != "content-length"]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# ---- running it ----------------------------------------------------------------------

@dataclass
class RunningGateway:
    gateway: Gateway
    host: str
    port: int
    _server: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def connections_url(self) -> str:
        """The endpoint_url of the apigatewaymanagementapi client."""
        return f"{self.url}/{self.gateway.spec.stage}"

    def stop(self) -> None:
        self._server.stop()


def prepare(template: str | Path, *, env_vars: str | Path | None = None,
            env: dict[str, str] | None = None, parameter_overrides: dict[str, Any] | None = None,
            ) -> tuple[GatewaySpec, dict[str, str]]:
    spec = load_template(template, parameter_overrides)
    merged = environment.merged_environment(spec, environment.read_env_vars_file(env_vars), env)
    for warning in spec.warnings:
        log.warning("%s", warning)
    dropped = environment.dropped_variables(spec, merged)
    if dropped:
        log.info("not set locally (their value only exists in AWS): %s", ", ".join(dropped))
    return spec, merged


def endpoint_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def start(template: str | Path = "template.yaml", host: str = "127.0.0.1", port: int = 0, *,
          env_vars: str | Path | None = None, env: dict[str, str] | None = None, static: str | Path | None = None,
          limits: Limits | None = None, parameter_overrides: dict[str, Any] | None = None,
          invoke_override: InvokeOverride | None = None, max_workers: int = 1024,
          log_level: str = "warning") -> RunningGateway:
    """Start the emulator in a background thread; returns once it accepts connections."""
    from local.serve import ServerThread

    spec, merged = prepare(template, env_vars=env_vars, env=env, parameter_overrides=parameter_overrides)
    limits = limits or Limits()
    gateway = Gateway(spec, limits=limits, static_dir=static, invoke_override=invoke_override, max_workers=max_workers)
    server = ServerThread(gateway, host=host, port=port, log_level=log_level, access_log=False,
                          timeout_graceful_shutdown=3, backlog=4096, **uvicorn_ws_options(limits))
    environment.apply(merged, spec.region, f"http://{endpoint_host(host)}:{server.port}/{spec.stage}")
    server.start()
    return RunningGateway(gateway=gateway, host=endpoint_host(host), port=server.port, _server=server)


def serve(template: str | Path, host: str, port: int, *, env_vars: str | Path | None = None,
          env: dict[str, str] | None = None, static: str | Path | None = None,
          parameter_overrides: dict[str, Any] | None = None, max_workers: int = 1024,
          log_level: str = "info", access_log: bool = False) -> None:
    """Run in the foreground until Ctrl-C."""
    import socket

    import uvicorn

    spec, merged = prepare(template, env_vars=env_vars, env=env, parameter_overrides=parameter_overrides)
    limits = Limits()
    gateway = Gateway(spec, limits=limits, static_dir=static, max_workers=max_workers)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    base = f"http://{endpoint_host(host)}:{bound}"
    environment.apply(merged, spec.region, f"{base}/{spec.stage}")
    print(f"OmniChat local API Gateway on {base}  (template: {spec.template_path})", flush=True)
    for api in spec.ws_apis:
        print(f"  WebSocket API {api.logical_id}: ws://{endpoint_host(host)}:{bound}{api.path} "
              f"(stage {api.stage}, routes: {', '.join(sorted(api.routes))})", flush=True)
    print(f"  HTTP routes: {', '.join(sorted({r.route_key for r in spec.http_routes})) or 'none'}", flush=True)
    print(f"  @connections: {base}/{spec.stage}/@connections/{{id}}", flush=True)
    if static:
        print(f"  static site: {Path(static).resolve()} at {base}/", flush=True)
    config = uvicorn.Config(gateway, log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=3, backlog=4096, **uvicorn_ws_options(limits))
    uvicorn.Server(config).run(sockets=[sock])

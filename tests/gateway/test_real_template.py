"""The repository's template.yaml, walked: every function loads, and every HTTP route and
WebSocket route (with its authorizer) is reachable through the emulator. The handlers are
replaced by a recorder (`invoke_override`), so no database or model is needed: what is
proven is the wiring from template.yaml to the function that API Gateway would invoke."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from local.gateway import load_template, start
from local.gateway.functions import FunctionRuntime
from local.gateway.server import RunningGateway
from local.gateway.spec import GatewaySpec, WsApi

from .support import run, wait_for

TEMPLATE = Path(os.environ.get("OMNICHAT_GATEWAY_TEMPLATE") or Path(__file__).resolve().parents[2] / "template.yaml")
pytestmark = pytest.mark.skipif(not TEMPLATE.is_file(), reason="template.yaml is not written yet")


@pytest.fixture(scope="module")
def spec() -> GatewaySpec:
    return load_template(TEMPLATE)


class Recorder:
    def __init__(self, spec: GatewaySpec) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.authorizers = {route.authorizer.function_id for api in spec.ws_apis for route in api.routes.values()
                            if route.authorizer is not None}

    def __call__(self, function_id: str, event: dict[str, Any]) -> Any:
        with self.lock:
            self.calls.append((function_id, event))
        if function_id in self.authorizers:
            return {"principalId": "walker", "context": {"userId": "walker", "role": "user", "email": "w@example.com"},
                    "policyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]}}
        return {"statusCode": 200, "body": "{}"}

    def routes_of(self, function_id: str) -> list[str]:
        with self.lock:
            return ["REQUEST" if e.get("type") == "REQUEST" else
                    e.get("routeKey") or e.get("requestContext", {}).get("routeKey", "")
                    for f, e in self.calls if f == function_id]


@pytest.fixture(scope="module")
def walked(spec: GatewaySpec, saved_environ: None) -> Iterator[tuple[RunningGateway, Recorder]]:
    recorder = Recorder(spec)
    running = start(TEMPLATE, invoke_override=recorder)
    yield running, recorder
    running.stop()


def test_every_function_loads(spec: GatewaySpec) -> None:
    for function_id, function in spec.functions.items():
        assert function.module_file.is_file(), f"{function_id}: no {function.module_file}"
        assert callable(FunctionRuntime(function).handler()), function_id


def concrete(path: str) -> str:
    path = re.sub(r"\{[^}]+\+\}", "probe/path", path)
    return re.sub(r"\{[^}]+\}", "probe", path)


def test_every_http_route_reaches_its_function(spec: GatewaySpec, walked: tuple[RunningGateway, Recorder]) -> None:
    running, recorder = walked
    assert spec.http_routes, "template.yaml declares no HTTP API route"
    for route in spec.http_routes:
        method = "GET" if route.method == "ANY" else route.method
        path = concrete(route.path) if route.path else "/probe-default-route"
        matched = running.gateway.router.match(method, path)
        assert matched is not None and matched[0] == route, f"{route.route_key} is shadowed or unreachable"
        if spec.functions[route.function_id].web_adapter:
            continue  # served by the function's ASGI app: the route match is the wiring
        response = httpx.request(method, running.url + path, timeout=10)
        assert response.status_code == 200, f"{route.route_key}: {response.status_code} {response.text}"
        assert route.route_key in recorder.routes_of(route.function_id)


def selecting(api: WsApi, route_key: str) -> str:
    """A message that the API's RouteSelectionExpression sends to `route_key`."""
    message: dict[str, Any] = {}
    node = message
    path = api.selection_expression.strip("${}").split(".")[2:]
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = route_key
    return json.dumps(message)


async def walk(url: str, headers: dict[str, str], api: WsApi) -> None:
    """Connect, send one message per route, leave (the $disconnect)."""
    async with connect(url, additional_headers=headers) as ws:
        for key in api.routes:
            if key not in ("$connect", "$disconnect"):
                await ws.send(selecting(api, key) if key != "$default" else "not a route")
        await asyncio.sleep(0.2)


def test_every_websocket_route_reaches_its_function(spec: GatewaySpec,
                                                    walked: tuple[RunningGateway, Recorder]) -> None:
    running, recorder = walked
    assert spec.ws_apis, "template.yaml declares no WebSocket API"
    for api in spec.ws_apis:
        connect_route = api.routes.get("$connect")
        query, headers = [], {}
        for source in (connect_route.authorizer.identity_sources if connect_route and connect_route.authorizer else ()):
            name = source.rsplit(".", 1)[1]
            if ".querystring." in source:
                query.append(f"{name}=probe")
            else:
                headers[name] = "probe"
        url = f"ws://{running.host}:{running.port}{api.path}" + ("?" + "&".join(query) if query else "")
        run(walk(url, headers, api))
        for key, route in api.routes.items():
            if route.function_id is not None:
                function_id = route.function_id
                wait_for(lambda k=key, f=function_id: k in recorder.routes_of(f), what=f"{api.logical_id} {key}")
        if connect_route and connect_route.authorizer:
            assert "REQUEST" in recorder.routes_of(connect_route.authorizer.function_id)

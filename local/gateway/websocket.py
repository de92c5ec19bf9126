"""A WebSocket API of the template, served at ws://HOST:PORT/ws as API Gateway serves it.

Handshake: the $connect route's REQUEST authorizer (authorizer.py), then the $connect
integration (a non-2xx statusCode refuses the handshake with that status); only then is
the connection open and reachable through @connections.

Messages: each text message is routed by the RouteSelectionExpression (`$request.body.X`
of a JSON object equal to a route key), else to `$default`; without `$default` the client
gets `{"message": "Forbidden", ...}`. Every message is its own invocation, running
concurrently with the others. A handler that raises sends `{"message": "Internal server
error", ...}` and the connection stays open. The handler's return value reaches the client
only when the route has a RouteResponse. After the 29 s integration timeout the emulator
stops waiting (with a RouteResponse the client gets `{"message": "Endpoint request timed
out", ...}`); the handler runs on and can keep posting.

Limits: binary frames close the connection with 1003; frames over 32 KB and messages over
128 KB with 1009 (protocol.py); 10 minutes idle or 2 hours open: 1001 (connections.py).
Closing, from either side, invokes $disconnect with the status code and reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from . import authorizer as auth
from . import ids, wsevents
from .connections import Connection, Registry
from .functions import Invoker
from .limits import Limits
from .spec import WsApi, WsRoute

log = logging.getLogger("local.gateway")
_REFUSALS = {401: "Unauthorized", 403: "Forbidden", 500: "Internal server error"}


def route_key_for(api: WsApi, body: str) -> str:
    """The route a message takes: the selection expression's value when it is a route key."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):  # not JSON to this parser (too deep, huge ints): $default answers
        return "$default"
    path = api.selection_expression.strip("${}").split(".")[2:]  # $request.body.a.b -> [a, b]
    for part in path:
        if not isinstance(document, dict):
            return "$default"
        document = document.get(part)
    if isinstance(document, str) and document in api.routes and document not in ("$connect", "$disconnect"):
        return document
    return "$default"


class WebSocketApi:
    def __init__(self, api: WsApi, invoker: Invoker, registry: Registry, limits: Limits, region: str) -> None:
        self.api, self.invoker, self.registry, self.limits, self.region = api, invoker, registry, limits, region
        self.background: set[asyncio.Task[Any]] = set()

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        first = await websocket.receive()
        if first["type"] != "websocket.connect":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        server_port = (scope.get("server") or ("", 0))[1]
        info = wsevents.ConnectionInfo(
            api_id=self.api.api_id, stage=self.api.stage, connection_id=ids.gateway_id(),
            connected_at=ids.now_ms(), source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            user_agent=headers.get("user-agent", ""), domain_name=headers.get("host", "localhost"))
        request = wsevents.upgrade_request(scope, server_port)
        authorizer = await self._handshake(websocket, info, request)
        if authorizer is None:
            return  # refused
        try:
            await websocket.accept()
        except Exception:  # noqa: BLE001 - the client left during $connect: nothing is open
            self._spawn(self._disconnect(info, 1006, "", authorizer or None))
            return
        connection = Connection(id=info.connection_id, websocket=websocket, api_logical_id=self.api.logical_id,
                                source_ip=info.source_ip, user_agent=info.user_agent,
                                connected_at_ms=info.connected_at, authorizer=authorizer or None)
        self.registry.add(connection)
        code, reason = 1006, ""
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    code, reason = message.get("code") or 1005, message.get("reason") or ""
                    break
                connection.touch()
                if message.get("text") is None:
                    await connection.close(1003, "Binary frames are not supported")
                    continue
                if not connection.closing:
                    self._spawn(self._message(connection, info, message["text"]))
        finally:
            self.registry.remove(connection.id)
            connection.closing = True
            if connection.server_close is not None:
                code, reason = connection.server_close
            self._spawn(self._disconnect(info, code, reason, connection.authorizer))

    # ---- $connect ----------------------------------------------------------------------

    async def _refuse(self, websocket: WebSocket, status: int, why: str, info: wsevents.ConnectionInfo) -> None:
        log.info("WebSocket handshake refused with %s: %s", status, why)
        body = {"message": _REFUSALS.get(status, "Forbidden")}
        try:
            await websocket.send_denial_response(JSONResponse(body, status_code=status))
        except Exception:  # noqa: BLE001 - the client did not wait for the answer
            log.debug("%s left before its handshake was refused", info.connection_id)

    async def _handshake(self, websocket: WebSocket, info: wsevents.ConnectionInfo,
                         request: wsevents.UpgradeRequest) -> dict[str, Any] | None:
        """The authorizer context (or {}), or None after refusing the handshake."""
        route = self.api.routes.get("$connect")
        context: dict[str, Any] = {}
        if route is not None and route.authorizer is not None:
            missing = auth.missing_identity(route.authorizer.identity_sources, request)
            if missing:
                await self._refuse(websocket, 401, f"identity source {missing} is missing", info)
                return None
            now = ids.now_ms()
            event = wsevents.authorizer_event(info, request, self.region, ids.gateway_id(), now)
            timeout = self.limits.ws_integration_timeout_s
            result = await self.invoker.invoke(route.authorizer.function_id, event, timeout)
            decision = auth.decide(result, event["methodArn"], self.limits.authorizer_context_bytes)
            if decision.status is not None:
                await self._refuse(websocket, decision.status, decision.reason, info)
                return None
            context = decision.authorizer or {}
        if route is not None and route.function_id is not None:
            event = wsevents.connect_event(info, request, ids.gateway_id(), ids.now_ms(), context or None)
            result = await self.invoker.invoke(route.function_id, event, self.limits.ws_integration_timeout_s)
            if result.timed_out or not result.ok:
                await self._refuse(websocket, 500, "the $connect integration failed", info)
                return None
            status = result.value.get("statusCode") if isinstance(result.value, dict) else None
            try:
                status = int(status) if status is not None else 200
            except (TypeError, ValueError):
                await self._refuse(websocket, 500, f"$connect answered statusCode {status!r}", info)
                return None
            if not 200 <= status <= 299:
                await self._refuse(websocket, status, f"$connect answered {status}", info)
                return None
        return context

    # ---- messages ----------------------------------------------------------------------

    async def _message(self, connection: Connection, info: wsevents.ConnectionInfo, body: str) -> None:
        route_key = route_key_for(self.api, body)
        route: WsRoute | None = self.api.routes.get(route_key)
        request_id = ids.gateway_id()
        if route is None or route.function_id is None:
            await self._reply(connection, {"message": "Forbidden", "connectionId": connection.id,
                                           "requestId": request_id})
            return
        event = wsevents.message_event(info, route_key, body, request_id, ids.now_ms(), connection.authorizer or None)
        result = await self.invoker.invoke(route.function_id, event, self.limits.ws_integration_timeout_s)
        if result.timed_out:
            if route.has_route_response:
                await self._reply(connection, {"message": "Endpoint request timed out",
                                               "connectionId": connection.id, "requestId": request_id})
        elif not result.ok:
            await self._reply(connection, {"message": "Internal server error",
                                           "connectionId": connection.id, "requestId": request_id})
        elif route.has_route_response:
            await self._route_response(connection, result.value)

    async def _route_response(self, connection: Connection, value: Any) -> None:
        if isinstance(value, dict) and "statusCode" in value:
            body = value.get("body")
            if body is not None:
                await self._reply(connection, body if isinstance(body, str) else json.dumps(body))
        elif value is not None:
            await self._reply(connection, value if isinstance(value, str) else json.dumps(value))

    async def _reply(self, connection: Connection, payload: Any) -> None:
        try:
            await connection.send(payload if isinstance(payload, str) else json.dumps(payload))
        except Exception:  # noqa: BLE001 - a reply to a client that left is dropped, as API Gateway does
            log.debug("%s went away before a reply", connection.id)

    # ---- $disconnect -------------------------------------------------------------------

    async def _disconnect(self, info: wsevents.ConnectionInfo, code: int, reason: str,
                          authorizer: dict[str, Any] | None) -> None:
        route = self.api.routes.get("$disconnect")
        if route is None or route.function_id is None:
            return
        event = wsevents.disconnect_event(info, code, reason, ids.gateway_id(), ids.now_ms(), authorizer or None)
        await self.invoker.invoke(route.function_id, event, self.limits.ws_integration_timeout_s)

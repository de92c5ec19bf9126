"""The events API Gateway sends a WebSocket API's Lambdas: the REQUEST authorizer's, and
the Lambda proxy events of $connect, of each message and of $disconnect. Field for field as
the captured samples in events/ws-*.json (from real API Gateway events and the AWS docs).

Header names reach the emulator lower-cased (HTTP/1.1 servers fold them); they are given
back in their usual spelling (`Host`, `Sec-WebSocket-Key`, `X-Forwarded-For`), which is
what browsers send. Read headers case-insensitively in handlers, as in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from . import ids

_SPECIAL = {"websocket": "WebSocket", "id": "Id", "amzn": "Amzn"}
_KEEP_LOWER = {"content-length"}


def canonical_header(name: str) -> str:
    if name in _KEEP_LOWER:
        return name
    return "-".join(_SPECIAL.get(part, part.capitalize()) for part in name.split("-"))


@dataclass
class ConnectionInfo:
    """What stays the same across the events of one connection."""

    api_id: str
    stage: str
    connection_id: str
    connected_at: int
    source_ip: str
    user_agent: str
    domain_name: str


@dataclass
class UpgradeRequest:
    headers: dict[str, str]
    multi_headers: dict[str, list[str]]
    query: dict[str, str] | None
    multi_query: dict[str, list[str]] | None


def upgrade_request(scope: dict[str, Any], server_port: int) -> UpgradeRequest:
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = canonical_header(raw_name.decode("latin-1").lower())
        multi.setdefault(name, []).append(raw_value.decode("latin-1"))
    client_ip = (scope.get("client") or ("127.0.0.1", 0))[0]
    forwarded = ", ".join(multi.pop("X-Forwarded-For", []) + [client_ip])
    multi.setdefault("X-Amzn-Trace-Id", [ids.trace_id()])
    multi["X-Forwarded-For"] = [forwarded]
    multi.setdefault("X-Forwarded-Port", [str(server_port)])
    multi.setdefault("X-Forwarded-Proto", ["https" if scope.get("scheme") == "wss" else "http"])
    for name, values in multi.items():
        headers[name] = values[-1] if len(values) == 1 else ",".join(values)
    query: dict[str, str] | None = None
    multi_query: dict[str, list[str]] | None = None
    raw_query = scope.get("query_string", b"").decode("latin-1")
    if raw_query:
        query, multi_query = {}, {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = value
            multi_query.setdefault(key, []).append(value)
    return UpgradeRequest(headers, multi, query, multi_query)


def request_context(info: ConnectionInfo, route_key: str, event_type: str, request_id: str, now: int,
                    authorizer: dict[str, Any] | None, message_id: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"routeKey": route_key}
    if authorizer is not None:
        context["authorizer"] = authorizer
    if event_type == "MESSAGE":
        context["messageId"] = message_id or ids.gateway_id()
    elif event_type == "CONNECT":
        context["messageId"] = None
    context.update({
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": ids.clf_time(now),
        "messageDirection": "IN",
        "stage": info.stage,
        "connectedAt": info.connected_at,
        "requestTimeEpoch": now,
        "identity": {"userAgent": info.user_agent, "sourceIp": info.source_ip},
        "requestId": request_id,
        "domainName": info.domain_name,
        "connectionId": info.connection_id,
        "apiId": info.api_id,
    })
    return context


def _with_request(event: dict[str, Any], request: UpgradeRequest) -> dict[str, Any]:
    event["headers"] = request.headers
    event["multiValueHeaders"] = request.multi_headers
    if request.query is not None:
        event["queryStringParameters"] = request.query
        event["multiValueQueryStringParameters"] = request.multi_query
    return event


def method_arn(region: str, info: ConnectionInfo) -> str:
    return f"arn:aws:execute-api:{region}:123456789012:{info.api_id}/{info.stage}/$connect"


def authorizer_event(info: ConnectionInfo, request: UpgradeRequest, region: str, request_id: str,
                     now: int) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "REQUEST", "methodArn": method_arn(region, info)}
    _with_request(event, request)
    event["stageVariables"] = {}
    context = request_context(info, "$connect", "CONNECT", request_id, now, None)
    context.pop("messageId")
    event["requestContext"] = context
    return event


def connect_event(info: ConnectionInfo, request: UpgradeRequest, request_id: str, now: int,
                  authorizer: dict[str, Any] | None) -> dict[str, Any]:
    event = _with_request({}, request)
    event["requestContext"] = request_context(info, "$connect", "CONNECT", request_id, now, authorizer)
    event["isBase64Encoded"] = False
    return event


def message_event(info: ConnectionInfo, route_key: str, body: str, request_id: str, now: int,
                  authorizer: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "requestContext": request_context(info, route_key, "MESSAGE", request_id, now, authorizer),
        "body": body,
        "isBase64Encoded": False,
    }


def disconnect_event(info: ConnectionInfo, status_code: int, reason: str, request_id: str, now: int,
                     authorizer: dict[str, Any] | None) -> dict[str, Any]:
    headers = {"Host": info.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = request_context(info, "$disconnect", "DISCONNECT", request_id, now, authorizer)
    context = {"routeKey": context.pop("routeKey"), "disconnectStatusCode": status_code, **context}
    context["disconnectReason"] = reason
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }

"""The `@connections` Management API (service `apigatewaymanagementapi`), on the emulator's
port, with or without the stage prefix:

    POST   /{stage}/@connections/{id}   PostToConnection: the raw body as one text frame
    GET    /{stage}/@connections/{id}   GetConnection: connectedAt, lastActiveAt, identity
    DELETE /{stage}/@connections/{id}   DeleteConnection: close the connection (204)

so `boto3.client("apigatewaymanagementapi", endpoint_url="http://HOST:PORT/<stage>")` works
unchanged, with the functions' credentials: anything not signed by them is refused before it
gets here (management_auth.py). Errors carry the `x-amzn-ErrorType` header and JSON body that
botocore turns into `client.exceptions.X`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import ids
from .connections import Gone, Registry
from .limits import Limits

PATH = re.compile(r"^/(?:(?P<stage>[^/@][^/]*)/)?@connections/(?P<connection_id>[^/]+)/?$")
Reply = tuple[int, list[tuple[str, str]], bytes]


def _error(status: int, error_type: str, message: str | None) -> Reply:
    body = json.dumps({"message": message}).encode()
    return status, [("content-type", "application/json"), ("x-amzn-errortype", error_type)], body


def gone(connection_id: str) -> Reply:
    return _error(410, "GoneException", None)


async def handle(method: str, connection_id: str, body: bytes, registry: Registry, limits: Limits) -> Reply:
    try:
        connection = registry.get(connection_id)
        if method == "POST":
            if len(body) > limits.post_bytes:
                return _error(413, "PayloadTooLargeException", "Message too long")
            try:
                data: str | bytes = body.decode("utf-8")
            except UnicodeDecodeError:
                data = body
            await connection.send(data)
            return 200, [("content-type", "application/json")], b""
        if method == "GET":
            info: dict[str, Any] = {
                "connectedAt": ids.iso_time(connection.connected_at_ms),
                "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                "lastActiveAt": ids.iso_time(connection.last_active_ms),
            }
            return 200, [("content-type", "application/json")], json.dumps(info).encode()
        if method == "DELETE":
            await connection.close(1000, "", event_reason="Connection Closed Normally")
            return 204, [], b""
        return _error(403, "ForbiddenException", "Missing Authentication Token")
    except Gone:
        return gone(connection_id)

"""Lambda "ws_connect": $connect, after the authorizer allowed it: registers the
connection for its user, with the credential it rides on. A protocol version (`v`) this
server does not speak is refused (400); so is a user with `ws_max_connections_per_user`
live connections (429)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="omnichat")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import json

    from omnichat.config import get_settings
    from omnichat.errors import Unauthorized
    from omnichat.ws import connections
    from omnichat.ws.lambda_events import management_endpoint, principal_from

    try:
        principal = principal_from(event)
    except PermissionError:
        return {"statusCode": 401, "body": "Unauthorized"}
    version = (event.get("queryStringParameters") or {}).get("v", connections.PROTOCOL_VERSIONS[0])
    if version not in connections.PROTOCOL_VERSIONS:
        newest = connections.PROTOCOL_VERSIONS[-1]
        body = {"error": {"code": "unsupported_version", "message": f"This server does not speak version "
                          f"{version[:20]!r} of the WebSocket protocol: connect with v={newest}"}}
        return {"statusCode": 400, "body": json.dumps(body)}
    connection_id = event["requestContext"]["connectionId"]
    settings = get_settings()
    try:
        registered = connections.register(
            settings.resolved_database_url, connection_id, principal.user_id, management_endpoint(event),
            session_id=principal.session_id, api_key_id=principal.api_key_id,
            max_per_user=settings.ws_max_connections_per_user)
    except Unauthorized as exc:
        return {"statusCode": 401, "body": json.dumps(exc.body())}
    if not registered:
        limit = settings.ws_max_connections_per_user
        logger.info("too many connections", extra={"user_id": principal.user_id, "limit": limit})
        body = {"error": {"code": "too_many_connections",
                          "message": f"At most {limit} open connections per user; close one and try again"}}
        return {"statusCode": 429, "body": json.dumps(body)}
    logger.info("connected", extra={"connection_id": connection_id, "user_id": principal.user_id})
    return {"statusCode": 200}

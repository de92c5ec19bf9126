"""Lambda "ws_connect": $connect, after the authorizer allowed it: registers the
connection for its user."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="omnichat")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from omnichat.config import get_settings
    from omnichat.db import lite
    from omnichat.ws.lambda_events import management_endpoint, principal_from

    try:
        principal = principal_from(event)
    except PermissionError:
        return {"statusCode": 401, "body": "Unauthorized"}
    connection_id = event["requestContext"]["connectionId"]
    lite.register_connection(get_settings().resolved_database_url, connection_id, principal.user_id,
                             management_endpoint(event))
    logger.info("connected", extra={"connection_id": connection_id, "user_id": principal.user_id})
    return {"statusCode": 200}

"""Lambda "ws_disconnect": $disconnect: forgets the connection. Answers it was receiving
keep generating and are saved; only their delivery to it ends."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="omnichat")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from omnichat.config import get_settings
    from omnichat.ws import connections

    connection_id = event["requestContext"]["connectionId"]
    connections.forget(get_settings().resolved_database_url, connection_id)
    logger.info("disconnected", extra={"connection_id": connection_id,
                                       "status": event["requestContext"].get("disconnectStatusCode")})
    return {"statusCode": 200}

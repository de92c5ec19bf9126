"""Lambda "ws_disconnect": $disconnect: forgets the connection. Answers it was receiving
keep generating and are saved; only their delivery to it ends."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="omnichat")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from sqlalchemy import delete

    from omnichat.config import get_settings
    from omnichat.db.engine import session_scope
    from omnichat.db.models import Connection
    from omnichat.streaming.control import forget_connection

    connection_id = event["requestContext"]["connectionId"]
    with session_scope(get_settings().resolved_database_url) as db:
        forget_connection(db, connection_id)
        db.execute(delete(Connection).where(Connection.connection_id == connection_id))
    logger.info("disconnected", extra={"connection_id": connection_id,
                                       "status": event["requestContext"].get("disconnectStatusCode")})
    return {"statusCode": 200}

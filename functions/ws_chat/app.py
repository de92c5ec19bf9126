"""Lambda "ws_chat": every message on the WebSocket API (all custom routes and $default).
It may run long past API Gateway's 29-second integration timeout: the answer is posted
through the Management API, not returned."""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from omnichat import snapstart

logger = Logger(service="omnichat")
metrics = Metrics(namespace="OmniChat", service="ws_chat")


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from omnichat.config import get_settings
    from omnichat.streaming.relay import RelayTuning
    from omnichat.streaming.sinks import management_sink
    from omnichat.ws.dispatcher import decode_body, dispatch
    from omnichat.ws.lambda_events import deadline_from, management_endpoint, principal_from
    from omnichat.ws.session import WsSession

    settings = get_settings()
    session = WsSession(
        settings=settings,
        db_url=settings.resolved_database_url,
        sink=management_sink(management_endpoint(event), settings.aws_region),
        connection_id=event["requestContext"]["connectionId"],
        principal=principal_from(event),
        deadline=deadline_from(context),
        tuning=RelayTuning(max_delay_s=settings.coalesce_ms / 1000),
    )
    metrics.add_metric(name="WebSocketMessages", unit=MetricUnit.Count, value=1)
    body, is_binary = decode_body(event)
    asyncio.run(dispatch(session, body, is_binary))
    return {"statusCode": 200}


if snapstart.snapshotting():  # what a chat.send needs, in the snapshot
    snapstart.prepare("omnichat.config", "omnichat.streaming.relay", "omnichat.streaming.sinks",
                      "omnichat.ws.dispatcher", "omnichat.ws.lambda_events", "omnichat.ws.session",
                      "omnichat.providers.ollama", "pg8000.dbapi")

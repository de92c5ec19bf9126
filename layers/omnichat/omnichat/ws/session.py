"""One WebSocket message being handled: who sent it, on which connection, and how to
answer. Handlers run as Lambda invocations, so this lives for one message only."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.errors import AppError
from omnichat.streaming import frames
from omnichat.streaming.relay import RelayTuning
from omnichat.streaming.sinks import ConnectionGone, Sink

log = logging.getLogger("omnichat.ws")


class WsError(AppError):
    """An error answered to the client as an `error` event (never raised past the
    dispatcher)."""

    def __init__(self, code: str, message: str, **context: Any) -> None:
        super().__init__(message, code=code)
        self.context = context


@dataclass
class WsSession:
    settings: Settings
    db_url: str
    sink: Sink
    connection_id: str
    principal: Principal
    deadline: float | None = None  # time.monotonic() by which the invocation must be done
    request_id: str | None = None
    client_message_id: str | None = None  # of the frame being handled, for its errors
    tuning: RelayTuning = field(default_factory=RelayTuning)

    def _post(self, event: dict[str, Any]) -> None:
        try:
            self.sink.post(self.connection_id, frames.encode(event))
        except ConnectionGone:
            log.info("connection %s is gone", self.connection_id)

    async def send(self, event: dict[str, Any]) -> None:
        await asyncio.to_thread(self._post, event)

    async def ack(self, action: str, **fields: Any) -> None:
        await self.send({"type": "ack", "action": action, "request_id": self.request_id, **fields})

    async def error(self, code: str, message: str, **context: Any) -> None:
        if self.client_message_id and "client_message_id" not in context:
            context["client_message_id"] = self.client_message_id
        await self.send(frames.error(code, message, request_id=self.request_id, **context))

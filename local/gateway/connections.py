"""The open WebSocket connections, by connection id: what `@connections` posts to, gets and
deletes, and what the idle / lifetime sweep closes. Used from the event loop only."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from . import ids
from .limits import Limits

log = logging.getLogger("local.gateway")


class Gone(Exception):
    """The connection is closed or was never open."""


@dataclass
class Connection:
    id: str
    websocket: WebSocket
    api_logical_id: str
    source_ip: str
    user_agent: str
    connected_at_ms: int = field(default_factory=ids.now_ms)
    last_active_ms: int = field(default_factory=ids.now_ms)
    authorizer: dict[str, Any] | None = None
    closing: bool = False
    # Set when the emulator closes the connection: (status code, reason) for $disconnect.
    server_close: tuple[int, str] | None = None
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def touch(self) -> None:
        self.last_active_ms = ids.now_ms()

    async def send(self, data: str | bytes) -> None:
        if self.closing:
            raise Gone(self.id)
        async with self._send_lock:
            try:
                if isinstance(data, bytes):
                    await self.websocket.send({"type": "websocket.send", "bytes": data})
                else:
                    await self.websocket.send({"type": "websocket.send", "text": data})
            except Exception as exc:  # the peer went away mid-send
                raise Gone(self.id) from exc
        self.touch()

    async def close(self, code: int, reason: str = "", event_reason: str | None = None) -> None:
        """Close from the server side; `event_reason` is what $disconnect will report."""
        if self.closing:
            return
        self.closing = True
        self.server_close = (code, reason if event_reason is None else event_reason)
        try:
            await self.websocket.send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:  # noqa: BLE001, S110 - already closed: nothing left to close
            pass


class Registry:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.connections: dict[str, Connection] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def add(self, connection: Connection) -> None:
        self.connections[connection.id] = connection
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def remove(self, connection_id: str) -> None:
        self.connections.pop(connection_id, None)

    def get(self, connection_id: str) -> Connection:
        connection = self.connections.get(connection_id)
        if connection is None or connection.closing:
            raise Gone(connection_id)
        return connection

    async def _sweep(self) -> None:
        """Close connections idle for 10 minutes or open for 2 hours, as API Gateway does."""
        while self.connections:
            await asyncio.sleep(self.limits.sweep_interval_s)
            now = ids.now_ms()
            for connection in list(self.connections.values()):
                idle = (now - connection.last_active_ms) / 1000 >= self.limits.idle_timeout_s
                too_old = (now - connection.connected_at_ms) / 1000 >= self.limits.max_connection_s
                if (idle or too_old) and not connection.closing:
                    log.info("closing %s: %s", connection.id, "idle timeout" if idle else "maximum connection duration")
                    await connection.close(1001, "Going away")

    async def close_all(self) -> None:
        for connection in list(self.connections.values()):
            await connection.close(1001, "Going away")
        if self._sweeper is not None:
            self._sweeper.cancel()

"""Where events go: a connection of API Gateway's WebSocket API, through the Management
API (PostToConnection). The same client talks to AWS and to the local emulator; only the
endpoint differs."""

from __future__ import annotations

import threading
from typing import Protocol

from omnichat.aws.connections import GoneError, ManagementApi


class ConnectionGone(Exception):
    """The client has disconnected (410 GoneException): stop sending, keep saving."""


class Sink(Protocol):
    def post(self, connection_id: str, data: bytes) -> None: ...


class ManagementApiSink:
    def __init__(self, endpoint_url: str, region: str | None = None) -> None:
        self._api = ManagementApi(endpoint_url, region)

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self._api.post_to_connection(connection_id, data)
        except GoneError:
            raise ConnectionGone(connection_id) from None

    def delete(self, connection_id: str) -> None:
        try:
            self._api.delete_connection(connection_id)
        except GoneError:
            pass


_sinks: dict[tuple[str, str | None], ManagementApiSink] = {}
_sinks_lock = threading.Lock()


def management_sink(endpoint_url: str, region: str | None = None) -> ManagementApiSink:
    """One sink (one pool of keep-alive connections) per endpoint, per process."""
    key = (endpoint_url, region)
    with _sinks_lock:
        if key not in _sinks:
            _sinks[key] = ManagementApiSink(endpoint_url, region)
        return _sinks[key]

"""Where events go: a connection of API Gateway's WebSocket API, through the Management
API (`post_to_connection`). The same boto3 client talks to AWS and to the local emulator;
only the endpoint differs."""

from __future__ import annotations

import threading
from typing import Any, Protocol


class ConnectionGone(Exception):
    """The client has disconnected (410 GoneException): stop sending, keep saving."""


class Sink(Protocol):
    def post(self, connection_id: str, data: bytes) -> None: ...


class ManagementApiSink:
    def __init__(self, endpoint_url: str, region: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # lazy: cold start
                    from botocore.config import Config

                    self._client = boto3.client(
                        "apigatewaymanagementapi", endpoint_url=self.endpoint_url, region_name=self.region,
                        config=Config(retries={"mode": "standard", "max_attempts": 3},
                                      connect_timeout=3, read_timeout=10, max_pool_connections=50),
                    )
        return self._client

    def post(self, connection_id: str, data: bytes) -> None:
        client = self._get_client()
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException:
            raise ConnectionGone(connection_id) from None

    def delete(self, connection_id: str) -> None:
        client = self._get_client()
        try:
            client.delete_connection(ConnectionId=connection_id)
        except client.exceptions.GoneException:
            pass


_sinks: dict[tuple[str, str | None], ManagementApiSink] = {}
_sinks_lock = threading.Lock()


def management_sink(endpoint_url: str, region: str | None = None) -> ManagementApiSink:
    """One sink (one boto3 client and its connection pool) per endpoint, per process."""
    key = (endpoint_url, region)
    with _sinks_lock:
        if key not in _sinks:
            _sinks[key] = ManagementApiSink(endpoint_url, region)
        return _sinks[key]

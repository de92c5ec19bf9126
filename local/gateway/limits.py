"""API Gateway's WebSocket and HTTP API limits, as the emulator applies them. Tests shorten
them; the defaults are the service's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    frame_bytes: int = 32 * 1024            # one inbound WebSocket frame (larger: close 1009)
    message_bytes: int = 128 * 1024         # one inbound message, all frames (larger: close 1009)
    post_bytes: int = 128 * 1024            # one @connections PostToConnection (larger: 413)
    idle_timeout_s: float = 10 * 60         # no traffic either way: close 1001
    max_connection_s: float = 2 * 60 * 60   # connection lifetime: close 1001
    ws_integration_timeout_s: float = 29.0  # API Gateway stops waiting; the Lambda runs on
    http_integration_timeout_s: float = 30.0  # HTTP API: 503 after this (or TimeoutInMillis)
    http_body_bytes: int = 10 * 1024 * 1024  # HTTP API payload limit: 413
    authorizer_context_bytes: int = 8 * 1024  # authorizer response size: larger is a 500

    @property
    def sweep_interval_s(self) -> float:
        """How often idle and over-age connections are looked for."""
        return max(0.05, min(1.0, self.idle_timeout_s / 4, self.max_connection_s / 4))

"""Identifiers and timestamps in API Gateway's formats."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime

_NO_SLASH = bytes.maketrans(b"+/", b"Ab")


def gateway_id() -> str:
    """A connection, request or message id: 16 characters such as "R1kmxc2VNjMCFIA="
    (no "/" or "+", so it travels in a URL path unescaped)."""
    return base64.b64encode(os.urandom(11)).translate(_NO_SLASH).decode()


def trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def now_ms() -> int:
    return int(time.time() * 1000)


def clf_time(epoch_ms: int) -> str:
    """The requestTime format: "20/Jan/2024:11:55:08 +0000"."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def iso_time(epoch_ms: int) -> str:
    """ISO 8601 with milliseconds, as the Management API returns connectedAt."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

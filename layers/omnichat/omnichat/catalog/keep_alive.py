"""Ollama's `keep_alive`, as an admin sets it per model: how long the model stays loaded
after each call. Sent on every call to that model (chats, titles, /v1, embeddings) and on
a preload, so the last call never shortens what the admin chose.

Ollama takes a number of seconds or a Go duration string ("30s", "10m", "1h30m"); a
negative value keeps the model loaded for good, 0 unloads it after each call. A string
without a unit ("300", "-1") is a number to us: Ollama would refuse it ("missing unit").
"""

from __future__ import annotations

import re
from typing import Any

from omnichat.errors import BadRequest

KeepAlive = str | int
MAX_SECONDS = 10 * 365 * 24 * 3600  # ten years: longer is "forever" (-1)
_DURATION = re.compile(r"^[-+]?(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = re.compile(r"^[-+]?\d+$")


def checked(value: Any, where: str = "keep_alive") -> KeepAlive | None:
    """The value to send to Ollama, or a 400 saying what is accepted. None: the server's
    default (OLLAMA_KEEP_ALIVE)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            value = int(text)
        elif len(text) <= 32 and _DURATION.match(text) and _seconds(text) <= MAX_SECONDS:
            return text  # (Go's durations end near 292 years: a longer one is refused by Ollama)
    if isinstance(value, int) and not isinstance(value, bool) and -1 <= value <= MAX_SECONDS:
        return value
    raise BadRequest(f"{where} must be a duration such as 30s, 10m or 1h30m, a number of seconds, "
                     "-1 (keep loaded) or 0 (unload after each call)", code="invalid_keep_alive")


def _seconds(duration: str) -> float:
    return sum(float(n) * _UNIT_S[unit] for n, unit in _PART.findall(duration))


def usable(value: Any) -> KeepAlive | None:
    """A stored value that passes today's rule; anything else is the server's default."""
    try:
        return checked(value)
    except BadRequest:
        return None

"""What a user may be shown when a model call fails: a plain message, never the provider's
raw words (exception class names, host URLs and addresses, ARNs, llama.cpp's limits)."""

from __future__ import annotations

import re

RAW = re.compile(
    r"https?://|\blocalhost\b|\b\d{1,3}(?:\.\d{1,3}){3}\b|:\d{2,5}\b|arn:aws"
    r"|\b[A-Z][A-Za-z]+(?:Exception|Error)\b|\b[a-z]+[A-Z][A-Za-z]*Exception\b"
    r"|context window of \d|Ollama \(\d{3}\)|Traceback|httpx|botocore|GGML"
)

# The stable codes a provider failure may carry (docs/websocket-protocol.md).
PROVIDER_CODES = {"provider_unavailable", "throttled", "context_too_long", "timeout", "provider_error",
                  "model_not_found", "invalid_request", "access_denied", "model_not_enabled"}


def assert_user_facing(message: object) -> str:
    """The message is a non-empty sentence with nothing raw in it."""
    assert isinstance(message, str) and len(message) > 20, message
    found = RAW.search(message)
    assert found is None, f"raw provider detail {found.group(0)!r} shown to a user: {message!r}"
    return message

"""Server → client events (docs/websocket-protocol.md) and their encoding. API Gateway
refuses a posted message over 128 KB, so anything that can grow (snapshots of long
answers) is split into frames that each fit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

MAX_POST_BYTES = 128 * 1024
# Room left for the envelope; JSON escaping can grow text up to 6x (control characters).
_SNAPSHOT_CHARS = 16 * 1024


def encode(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    if len(data) > MAX_POST_BYTES:
        raise ValueError(f"{event.get('type')} event is {len(data)} bytes, over API Gateway's limit")
    return data


def error(code: str, message: str, **context: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message,
            **{k: v for k, v in context.items() if v is not None}}


def delta(chat_id: str, message_id: str, offset: int, text: str, reasoning: str = "") -> dict[str, Any]:
    event = {"type": "delta", "chat_id": chat_id, "message_id": message_id, "offset": offset, "text": text}
    if reasoning:
        event["reasoning"] = reasoning
    return event


def snapshots(chat_id: str, message_id: str, content: str, reasoning: str, status: str) -> Iterator[dict[str, Any]]:
    """The answer so far, as one or more `message.snapshot` events (reasoning rides on the
    first; `last` marks the final one)."""
    chunks = [content[i:i + _SNAPSHOT_CHARS] for i in range(0, len(content), _SNAPSHOT_CHARS)] or [""]
    r_chunks = [reasoning[i:i + _SNAPSHOT_CHARS] for i in range(0, len(reasoning), _SNAPSHOT_CHARS)]
    # Long reasoning goes first in frames of its own, so every frame stays small.
    for i, r in enumerate(r_chunks[:-1] if r_chunks else []):
        yield {"type": "message.snapshot", "chat_id": chat_id, "message_id": message_id, "offset": 0, "text": "",
               "reasoning": r, "reasoning_offset": i * _SNAPSHOT_CHARS, "status": status, "last": False}
    offset = 0
    for i, chunk in enumerate(chunks):
        event = {"type": "message.snapshot", "chat_id": chat_id, "message_id": message_id, "offset": offset,
                 "text": chunk, "status": status, "last": i == len(chunks) - 1}
        if i == 0 and r_chunks:
            event["reasoning"] = r_chunks[-1]
            event["reasoning_offset"] = (len(r_chunks) - 1) * _SNAPSHOT_CHARS
        offset += len(chunk)
        yield event


def done(chat_id: str, message_id: str, status: str, stop_reason: str | None, usage: dict[str, Any] | None,
         error_body: dict[str, Any] | None = None, model: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "message.done", "chat_id": chat_id, "message_id": message_id,
                             "status": status, "stop_reason": stop_reason, "usage": usage or {}}
    if model:  # the model that answered: a fallback's when the asked one failed before its first token
        event["model"] = model
    if error_body:
        event["error"] = error_body
    return event

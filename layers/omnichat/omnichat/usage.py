"""The request log: one row per model call, for the admin's usage view."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from omnichat.db.models import UsageRecord


@dataclass
class CallRecord:
    user_id: str | None
    model: str
    provider: str
    outcome: str  # complete | stopped | error
    source: str = "chat"  # chat | gateway | title
    api_key_id: str | None = None
    chat_id: str | None = None
    message_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float = 0.0
    error_code: str | None = None


def record(db: Session, call: CallRecord) -> None:
    db.add(UsageRecord(
        user_id=call.user_id, api_key_id=call.api_key_id, chat_id=call.chat_id, message_id=call.message_id,
        source=call.source, model=call.model, provider=call.provider, input_tokens=call.input_tokens,
        output_tokens=call.output_tokens, cache_read_tokens=call.cache_read_tokens,
        cache_write_tokens=call.cache_write_tokens,
        ttft_ms=None if call.ttft_ms is None else int(round(call.ttft_ms)),
        duration_ms=int(round(call.duration_ms)), outcome=call.outcome, error_code=call.error_code,
    ))

"""The request log: one row per model call, for the admin's usage view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnichat.db.models import UsageRecord, User


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


def daily_totals(db: Session, since: datetime, by: str) -> list[dict[str, object]]:
    """Tokens and calls per UTC day and per model (`by="model"`) or per user (`by="user"`)."""
    day = func.date(UsageRecord.created_at)
    key = UsageRecord.model if by == "model" else UsageRecord.user_id
    columns = [day.label("day"), key.label("key"), func.count().label("calls"),
               func.sum(UsageRecord.input_tokens).label("input_tokens"),
               func.sum(UsageRecord.output_tokens).label("output_tokens")]
    query = select(*columns).where(UsageRecord.created_at >= since).group_by(day, key).order_by(day, key)
    rows = db.execute(query).all()
    emails: dict[str, str] = {}
    if by == "user":
        ids = {r.key for r in rows if r.key}
        emails = dict(db.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
    return [{"date": str(r.day), by: (emails.get(r.key, "deleted user") if by == "user" else r.key),
             **({"user_id": r.key} if by == "user" else {}), "calls": int(r.calls),
             "input_tokens": int(r.input_tokens or 0), "output_tokens": int(r.output_tokens or 0)} for r in rows]

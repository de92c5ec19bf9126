"""The request log: one row per model call, for the admin's usage view. Plain SQL over
`omnichat.db.lite` (the OpenAI gateway logs its calls without SQLAlchemy); ORM code passes
`Db.of_session(session)`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omnichat.db.lite import Db, utcnow
from omnichat.ids import new_id


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


def record(db: Db, call: CallRecord) -> None:
    if call.error_code == "model_not_found":  # no model answered: not a model call
        return
    db.insert("usage", {
        "id": new_id(), "user_id": call.user_id, "api_key_id": call.api_key_id, "chat_id": call.chat_id,
        "message_id": call.message_id, "source": call.source, "model": call.model, "provider": call.provider,
        "input_tokens": call.input_tokens, "output_tokens": call.output_tokens,
        "cache_read_tokens": call.cache_read_tokens, "cache_write_tokens": call.cache_write_tokens,
        "ttft_ms": None if call.ttft_ms is None else int(round(call.ttft_ms)),
        "duration_ms": int(round(call.duration_ms)), "outcome": call.outcome, "error_code": call.error_code,
        "created_at": utcnow()})


def daily_totals(db: Db, since: datetime, by: str) -> list[dict[str, object]]:
    """Tokens and calls per UTC day and per model (`by="model"`) or per user (`by="user"`)."""
    key = "model" if by == "model" else "user_id"
    # SQLite keeps UTC text; PostgreSQL's date() of a timestamptz would take the session's zone.
    day = "date(created_at)" if db.sqlite else "(created_at AT TIME ZONE 'UTC')::date"
    rows = db.execute(f"SELECT {day}, {key}, count(*), sum(input_tokens), sum(output_tokens) FROM usage"
                      f" WHERE created_at >= ? GROUP BY {day}, {key} ORDER BY 1, 2", since).fetchall()
    emails: dict[str, str] = {}
    if by == "user":
        ids = sorted({r[1] for r in rows if r[1]})
        if ids:
            found = db.execute(f"SELECT id, email FROM users WHERE id IN ({', '.join('?' * len(ids))})", *ids)
            emails = {user_id: email for user_id, email in found.fetchall()}
    return [{"date": str(day), by: (emails.get(k, "deleted user") if by == "user" else k),
             **({"user_id": k} if by == "user" else {}), "calls": int(calls),
             "input_tokens": int(tokens_in or 0), "output_tokens": int(tokens_out or 0)}
            for day, k, calls, tokens_in, tokens_out in rows]

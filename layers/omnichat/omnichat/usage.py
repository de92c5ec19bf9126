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
    priced_model: str | None = None  # the provider model whose prices apply (a preset's base)
    reservation_id: str | None = None  # the call's budget reservation, settled by its row


# Outcomes in which no model was called: the reservation is settled, no usage row is written.
# (An answer whose documents were not ready, had failed or could not be searched: ws/answers.py.)
NOT_CALLED = ("model_not_found", "documents_not_ready", "document_failed", "documents_unavailable")


def record(db: Db, call: CallRecord) -> None:
    """The call's row, costed at today's prices; it settles the call's budget reservation."""
    from omnichat.billing import prices, reservations, totals

    reservations.settle(db, call.reservation_id)
    if call.error_code in NOT_CALLED:  # no model answered: not a model call
        return
    now = utcnow()
    cost = prices.call_cost(db, call.priced_model or call.model, call.input_tokens, call.output_tokens,
                            call.cache_read_tokens, call.cache_write_tokens, call.duration_ms)
    db.insert("usage", {
        "id": new_id(), "user_id": call.user_id, "api_key_id": call.api_key_id, "chat_id": call.chat_id,
        "message_id": call.message_id, "source": call.source, "model": call.model, "provider": call.provider,
        "input_tokens": call.input_tokens, "output_tokens": call.output_tokens,
        "cache_read_tokens": call.cache_read_tokens, "cache_write_tokens": call.cache_write_tokens,
        "ttft_ms": None if call.ttft_ms is None else int(round(call.ttft_ms)),
        "duration_ms": int(round(call.duration_ms)), "outcome": call.outcome, "error_code": call.error_code,
        "cost_micros": cost, "created_at": now})
    totals.add(db, call.user_id, call.api_key_id, call.input_tokens + call.output_tokens + call.cache_read_tokens
               + call.cache_write_tokens, cost, now)


COUNTS = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "saved_input_tokens")


def saved_input_tokens(model: str, cache_read: int, cache_write: int) -> int:
    """What prompt caching saved, in input-token equivalents: each token read from the cache
    costs a fraction of an input token (Claude on Bedrock: 10 %), each one written may cost
    more (Claude: 125 %); the model's prices are in providers/bedrock_cache.py. Negative when
    writes were never read back."""
    if not cache_read and not cache_write:
        return 0
    from omnichat.providers.bedrock_cache import DEFAULT_PRICES, rule_for

    prices = rule_for(model.removeprefix("bedrock/")) or DEFAULT_PRICES
    return round(cache_read * (1 - prices.read_price) - cache_write * (prices.write_price - 1))


def daily_totals(db: Db, since: datetime, by: str) -> list[dict[str, object]]:
    """Calls and tokens (input, output, cache read and write, and the input-token equivalents
    caching saved) per UTC day and per model (`by="model"`) or per user (`by="user"`)."""
    key = "model" if by == "model" else "user_id"
    # SQLite keeps UTC text; PostgreSQL's date() of a timestamptz would take the session's zone.
    day = "date(created_at)" if db.sqlite else "(created_at AT TIME ZONE 'UTC')::date"
    # Per model as well, whatever the grouping: savings depend on the model's prices.
    rows = db.execute(f"SELECT {day}, {key}, model, count(*), sum(input_tokens), sum(output_tokens),"
                      " sum(cache_read_tokens), sum(cache_write_tokens) FROM usage"
                      f" WHERE created_at >= ? GROUP BY {day}, {key}, model ORDER BY 1, 2", since).fetchall()
    emails: dict[str, str] = {}
    if by == "user":
        ids = sorted({r[1] for r in rows if r[1]})
        if ids:
            found = db.execute(f"SELECT id, email FROM users WHERE id IN ({', '.join('?' * len(ids))})", *ids)
            emails = {user_id: email for user_id, email in found.fetchall()}
    counts: dict[tuple[str, object], dict[str, int]] = {}
    for day_value, k, model, calls, tokens_in, tokens_out, read, write in rows:
        row = counts.setdefault((str(day_value), k), dict.fromkeys(COUNTS, 0))
        read, write = int(read or 0), int(write or 0)
        values = (int(calls), int(tokens_in or 0), int(tokens_out or 0), read, write,
                  saved_input_tokens(model, read, write))
        for name, value in zip(COUNTS, values, strict=True):
            row[name] += value
    return [{"date": d, by: (emails.get(str(k), "deleted user") if by == "user" else k),
             **({"user_id": k} if by == "user" else {}), **row} for (d, k), row in counts.items()]

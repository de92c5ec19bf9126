"""Calls, tokens and cost per user and per API key per UTC day (`usage_totals`), kept with
the usage rows: a budget check adds up at most 31 rows for a month, however many calls a
user makes (summing the usage rows cost milliseconds per thousand calls)."""

from __future__ import annotations

from datetime import datetime

from omnichat.db.lite import Db

_ADD = ("INSERT INTO usage_totals (kind, subject_id, day, calls, tokens, cost_micros) VALUES (?, ?, ?, 1, ?, ?)"
        " ON CONFLICT (kind, subject_id, day) DO UPDATE SET calls = usage_totals.calls + 1,"
        " tokens = usage_totals.tokens + excluded.tokens,"
        " cost_micros = usage_totals.cost_micros + excluded.cost_micros")


def day_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")  # moments here are UTC


def add(db: Db, user_id: str | None, api_key_id: str | None, tokens: int, cost_micros: int, at: datetime) -> None:
    day = day_of(at)
    if user_id:
        db.execute(_ADD, "user", user_id, day, tokens, cost_micros)
    if api_key_id:
        db.execute(_ADD, "key", api_key_id, day, tokens, cost_micros)

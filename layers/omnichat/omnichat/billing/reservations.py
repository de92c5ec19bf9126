"""Reserve before a model call, settle at its end: budgets that concurrent calls cannot
overshoot.

Before a call, one transaction takes a lock per budget that applies (a PostgreSQL
advisory lock; SQLite serializes writers already), adds up what is used (the usage rows
of the day, month and minute) and what is reserved (the calls in flight), and admits the
call only if its estimate fits under every limit: then it inserts the call's reservation
(`budget_reservations`: its estimated tokens and cost). Fifty calls arriving together
see each other's reservations. The call's usage row settles it (usage.record deletes the
reservation in the same transaction), however the call ends: complete, stopped or failed,
with what it used. A process that dies mid-call never settles: reservations expire.

The estimate is the prompt's size (about 4 characters a token) plus the answer's
`max_tokens` (DEFAULT_OUTPUT_TOKENS when not given), priced at the most expensive model of
the call's fallback chain. A call that ends up larger than its estimate is charged what it
used; only the next call is refused."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from omnichat.billing import prices, totals
from omnichat.billing.budgets import APPLICABLE, BudgetRow, applicable, applicable_params
from omnichat.db import lite
from omnichat.db.lite import Db, utcnow
from omnichat.errors import AppError
from omnichat.ids import new_id

EXPIRES_S = 15 * 60.0  # a Lambda's hard limit: no call outlives it
DEFAULT_OUTPUT_TOKENS = 1024
CHARS_PER_TOKEN = 4


class BudgetExceeded(AppError):
    """A call refused by a budget: 429 with Retry-After and what remains."""

    status, code = 429, "budget_exceeded"


@dataclass(frozen=True)
class Ask:
    """What a call may use: its candidates' priced model ids (the asked one first)."""

    models: tuple[str, ...]
    input_tokens: int
    output_tokens: int

    @classmethod
    def of_text(cls, models: tuple[str, ...], chars: int, max_tokens: int | None) -> Ask:
        return cls(models, math.ceil(chars / CHARS_PER_TOKEN),
                   DEFAULT_OUTPUT_TOKENS if max_tokens is None else max(0, max_tokens))

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Windows:
    now: datetime
    day: datetime
    month: datetime
    minute: datetime

    @classmethod
    def at(cls, now: datetime) -> Windows:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(now, day, day.replace(day=1), now - timedelta(minutes=1))


@dataclass(frozen=True)
class Used:
    tokens_day: int
    tokens_month: int
    micros_day: int
    micros_month: int
    requests_minute: int
    in_flight: int
    oldest_in_minute: datetime | None


# What one budget's subject has used, in one statement: the day's and month's totals
# (totals.py), the requests of the last minute (the usage rows' index) and the calls in
# flight (live reservations). Its parameters are one row, `p`: five values, not sixteen
# (pg8000 binds each in Python).
_TOTALS = {"user": ("kind = 'user' AND subject_id = p.s", "user_id = p.s"),
           "key": ("kind = 'key' AND subject_id = p.s", "api_key_id = p.s"),
           "group": ("kind = 'user' AND subject_id IN (SELECT user_id FROM group_members WHERE group_id = p.s)",
                     "user_id IN (SELECT user_id FROM group_members WHERE group_id = p.s)")}
_LIVE = "FROM budget_reservations r WHERE r.{rows} AND r.expires_at > p.now"
# Each column, and the limits that need it (a check leaves the others out: 0 or NULL).
_COLUMNS = (
    ("(SELECT COALESCE(SUM(tokens), 0) FROM usage_totals WHERE {totals} AND day = p.today)", ("tokens_per_day",)),
    ("(SELECT COALESCE(SUM(tokens), 0) FROM usage_totals WHERE {totals} AND day >= p.month)", ("tokens_per_month",)),
    ("(SELECT COALESCE(SUM(cost_micros), 0) FROM usage_totals WHERE {totals} AND day = p.today)", ("usd_per_day",)),
    ("(SELECT COALESCE(SUM(cost_micros), 0) FROM usage_totals WHERE {totals} AND day >= p.month)",
     ("usd_per_month",)),
    ("(SELECT COUNT(*) FROM usage WHERE {rows} AND created_at >= p.minute)", ("requests_per_minute",)),
    ("(SELECT MIN(created_at) FROM usage WHERE {rows} AND created_at >= p.minute)", ("requests_per_minute",)),
    ("(SELECT COUNT(*) {live})", ("concurrent_streams",)),
    ("(SELECT COALESCE(SUM(r.tokens), 0) {live})", ("tokens_per_day", "tokens_per_month")),
    ("(SELECT COALESCE(SUM(r.cost_micros), 0) {live})", ("usd_per_day", "usd_per_month")),
    ("(SELECT COUNT(*) {live} AND r.started_at >= p.minute)", ("requests_per_minute",)),
    ("(SELECT MIN(r.started_at) {live} AND r.started_at >= p.minute)", ("requests_per_minute",)),
)
_NONE = (5, 10)  # the MIN columns (NULL when left out); the others count from 0
_PARAMS = (" FROM (SELECT CAST(? AS VARCHAR(36)) AS s, CAST(? AS VARCHAR(10)) AS today,"
           " CAST(? AS VARCHAR(10)) AS month, {stamp} AS minute, {stamp} AS now) p")


def _used_sql(index: int, budget: BudgetRow, sqlite: bool, full: bool) -> str:
    """One budget's row; `full`: every column, else only what its limits need."""
    totals_where, rows = _TOTALS[budget.scope]
    live = _LIVE.format(rows=rows)  # r.user_id / r.api_key_id: the reservation's own column
    limits = budget.limits()
    # PostgreSQL types a bare parameter (or NULL) in a SELECT list as text; SQLite keeps
    # timestamps as text.
    stamp, none = ("?", "NULL") if sqlite else ("CAST(? AS TIMESTAMPTZ)", "CAST(NULL AS TIMESTAMPTZ)")
    columns = [expr.format(totals=totals_where, rows=rows, live=live)
               if full or any(limits[n] is not None for n in needs) else (none if i in _NONE else "0")
               for i, (expr, needs) in enumerate(_COLUMNS)]
    return f"SELECT {index}, {', '.join(columns)}" + _PARAMS.format(stamp=stamp)


def _used(row: Any) -> Used:
    oldest = [t for t in (Db.timestamp(row[5]), Db.timestamp(row[10])) if t is not None]
    tokens, micros = int(row[7]), int(row[8])
    return Used(int(row[0]) + tokens, int(row[1]) + tokens, int(row[2]) + micros, int(row[3]) + micros,
                int(row[4]) + int(row[9]), int(row[6]), min(oldest) if oldest else None)


def used_all(db: Db, budgets: list[BudgetRow], w: Windows, full: bool = True) -> list[Used]:
    """Settled usage plus live reservations for each budget's subject, in one round trip
    (`full=False`: only what each budget limits, the rest 0)."""
    if not budgets:
        return []
    today, month = totals.day_of(w.day), totals.day_of(w.month)
    sql, params = [], []
    for index, budget in enumerate(budgets):
        sql.append(_used_sql(index, budget, db.sqlite, full))
        params += [budget.subject_id, today, month, w.minute, w.now]
    found = {row[0]: row[1:] for row in db.execute(" UNION ALL ".join(sql), *params).fetchall()}
    return [_used(found[index]) for index in range(len(budgets))]


def used(db: Db, budget: BudgetRow, w: Windows) -> Used:
    return used_all(db, [budget], w)[0]


def standing(budget: BudgetRow, u: Used) -> dict[str, Any]:
    """A budget's limits, what is used and what remains (null: no limit), for people."""
    used_values: dict[str, float | int] = {
        "tokens_per_day": u.tokens_day, "tokens_per_month": u.tokens_month,
        "usd_per_day": u.micros_day / 1e6, "usd_per_month": u.micros_month / 1e6,
        "requests_per_minute": u.requests_minute, "concurrent_streams": u.in_flight}
    limits = budget.limits()
    remaining = {name: None if limit is None else max(0, round(limit - used_values[name], 6))
                 for name, limit in limits.items()}
    return {"scope": budget.scope, "subject_id": budget.subject_id, "limits": limits,
            "used": {k: round(v, 6) for k, v in used_values.items()}, "remaining": remaining}


def _seconds_to(later: datetime, now: datetime) -> int:
    return max(1, math.ceil((later - now).total_seconds()))


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def refusal(budget: BudgetRow, u: Used, w: Windows, tokens: int, micros: int) -> tuple[str, int] | None:
    """(why, seconds until it may pass) when a call of this size does not fit; else None."""
    whose = {"user": "your", "group": "your group's", "key": "this API key's"}[budget.scope]
    tomorrow = _seconds_to(w.day + timedelta(days=1), w.now)
    next_month = _seconds_to(_next_month(w.month), w.now)
    if budget.concurrent_streams is not None and u.in_flight + 1 > budget.concurrent_streams:
        return f"{whose} limit of {budget.concurrent_streams} calls at a time is reached", 2
    if budget.requests_per_minute is not None and u.requests_minute + 1 > budget.requests_per_minute:
        oldest = u.oldest_in_minute or w.now
        return (f"{whose} limit of {budget.requests_per_minute} requests per minute is reached",
                _seconds_to(oldest + timedelta(minutes=1), w.now))
    checks = ((budget.tokens_per_day, u.tokens_day, tokens, "tokens per day", tomorrow),
              (budget.tokens_per_month, u.tokens_month, tokens, "tokens per month", next_month),
              (None if budget.usd_per_day is None else budget.usd_per_day * 1e6, u.micros_day, micros,
               "USD per day", tomorrow),
              (None if budget.usd_per_month is None else budget.usd_per_month * 1e6, u.micros_month, micros,
               "USD per month", next_month))
    for limit, spent, asked, what, wait in checks:
        if limit is not None and spent + asked > limit:
            left = max(0.0, limit - spent)
            shown = (f"{left / 1e6:.4f}", f"{asked / 1e6:.4f}") if what.startswith("USD") else (
                f"{left:,.0f}", f"{asked:,}")
            return (f"{whose} budget of {what} does not cover this call ({shown[0]} left, the call may use up to"
                    f" {shown[1]})"), wait
    return None


def estimate_micros(db: Db, ask: Ask) -> int:
    return _estimate(prices.of(db, list(ask.models)), ask)


def _estimate(found: dict[str, prices.PriceRow], ask: Ask) -> int:
    return max((p.estimate_micros(ask.input_tokens, ask.output_tokens) for p in found.values()), default=0)


def _applicable_priced(db: Db, user_id: str, api_key_id: str | None,
                       ask: Ask) -> tuple[list[BudgetRow], dict[str, prices.PriceRow] | None]:
    """The budgets that apply and, on PostgreSQL, the call's prices read by the same
    statement (one round trip; its uncorrelated subquery runs only when a budget row is
    found: no budget, no price lookup). On SQLite, no prices (None): read them after."""
    if db.sqlite:
        return applicable(db, user_id, api_key_id), None
    price_sql, models = prices.json_sql(list(ask.models))
    rows = db.execute(f"SELECT {BudgetRow.columns()}, {price_sql} FROM budgets {APPLICABLE}",
                      *models, *applicable_params(user_id, api_key_id)).fetchall()
    return [BudgetRow.read(row[:-1]) for row in rows], prices.of_json(rows[0][-1]) if rows else {}


def _lock(db: Db, user_id: str, budgets: list[BudgetRow], async_commit: bool) -> None:
    """Take the budgets' locks: the user's covers their own and their keys' budgets; a
    group's budget is shared with other users: its own lock, taken after, in one order (no
    two callers deadlock). On PostgreSQL one statement without parameters (pg8000 sends it
    in one round trip, not three) takes them all, in that order (PostgreSQL evaluates a
    SELECT list left to right), and sets `synchronous_commit = off` for this transaction
    when asked (SET LOCAL's equivalent). The usage is read by the next statement, whose
    snapshot is taken once the locks are held."""
    groups = sorted(b.subject_id for b in budgets if b.scope == "group")
    if db.sqlite:
        db.lock("budget", "user", user_id)
        for group in groups:
            db.lock("budget", "group", group)
        return
    keys = [Db.lock_id("budget", "user", user_id)] + [Db.lock_id("budget", "group", g) for g in groups]
    columns = [f"pg_advisory_xact_lock({int(key)})" for key in keys]
    if async_commit:
        columns.append("set_config('synchronous_commit', 'off', true)")
    db.execute(f"SELECT {', '.join(columns)}").fetchone()


def reserve(db: Db, user_id: str, api_key_id: str | None, ask: Ask) -> str | None:
    """Admit a call (its reservation's id; None when no budget applies) or raise
    BudgetExceeded. Run in the caller's transaction, committed before the model is called."""
    return _reserve(db, user_id, api_key_id, ask, async_commit=False)


def _reserve(db: Db, user_id: str, api_key_id: str | None, ask: Ask, async_commit: bool) -> str | None:
    budgets, found = _applicable_priced(db, user_id, api_key_id, ask)
    if not budgets:  # nothing written: how the transaction commits does not matter
        return None
    _lock(db, user_id, budgets, async_commit)
    w = Windows.at(utcnow())
    micros = estimate_micros(db, ask) if found is None else _estimate(found, ask)
    for budget, u in zip(budgets, used_all(db, budgets, w, full=False), strict=True):
        refused = refusal(budget, u, w, ask.tokens, micros)
        if refused is not None:
            why, wait = refused
            raise BudgetExceeded(f"Budget exceeded: {why}. Try again in {wait} s.",
                                 headers={"retry-after": str(wait)},
                                 details={"retry_after": wait, "budget": standing(budget, u)})
    reservation_id = new_id()
    db.insert("budget_reservations", {
        "id": reservation_id, "user_id": user_id, "api_key_id": api_key_id, "model": ask.models[0][:300],
        "tokens": ask.tokens, "cost_micros": micros, "started_at": w.now,
        "expires_at": w.now + timedelta(seconds=EXPIRES_S)})
    return reservation_id


def reserve_alone(url: str, user_id: str, api_key_id: str | None, ask: Ask) -> str | None:
    """`reserve` in a transaction of its own (a /v1 call, a title). On PostgreSQL its commit
    does not wait for the disk: a reservation lost in a crash only admits a call or two
    more for a moment, and a reservation is most of what a budget check costs."""
    return lite.run(url, lambda db: _reserve(db, user_id, api_key_id, ask, async_commit=not db.sqlite))


def settle(db: Db, reservation_id: str | None) -> None:
    """The call's usage row is written in this transaction: its reservation ends, and the
    expired ones (a process that died mid-call; they count no more) are swept with it."""
    if reservation_id:
        db.execute("DELETE FROM budget_reservations WHERE id = ? OR expires_at < ?", reservation_id, utcnow())


def remaining(db: Db, user_id: str, api_key_id: str | None) -> list[dict[str, Any]]:
    """Every budget that applies to this user (and key): limits, used, remaining."""
    w = Windows.at(utcnow())
    found = applicable(db, user_id, api_key_id)
    return [standing(b, u) for b, u in zip(found, used_all(db, found, w), strict=True)]

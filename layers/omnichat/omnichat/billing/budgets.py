"""Budgets: limits per user, group or API key (`budgets`), set by an admin.

A budget names any of: tokens per UTC day and month (input, output and cache tokens
together), USD per UTC day and month (at the admin's prices, prices.py), requests per
minute, and concurrent calls. A null limit is no limit; 0 allows nothing. A budget set
below what is already used is taken as it is and effective at once: the next call is
refused. A user's calls count against their own budget, each group's they belong to, and
the budget of the API key they call with; the tightest wins (reservations.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichat.db.lite import Db, Record, utcnow
from omnichat.errors import BadRequest, NotFound
from omnichat.ids import new_id

SCOPES = ("user", "group", "key")
# Limit -> its largest sensible value: more is a typo (or an overflow), not a budget.
LIMITS: dict[str, float] = {
    "tokens_per_day": 10**12, "tokens_per_month": 10**13, "usd_per_day": 10**7, "usd_per_month": 10**8,
    "requests_per_minute": 10**6, "concurrent_streams": 10**5,
}
WHOLE = ("tokens_per_day", "tokens_per_month", "requests_per_minute", "concurrent_streams")


@dataclass
class BudgetRow(Record):
    TABLE = "budgets"

    id: str
    scope: str
    subject_id: str
    tokens_per_day: int | None
    tokens_per_month: int | None
    usd_per_day: float | None
    usd_per_month: float | None
    requests_per_minute: int | None
    concurrent_streams: int | None
    created_at: datetime
    updated_at: datetime

    def limits(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in LIMITS}


def checked(values: dict[str, Any]) -> dict[str, Any]:
    """The limits, each null or a number from 0 to its maximum (whole where it counts)."""
    unknown = sorted(set(values) - set(LIMITS))
    if unknown:
        raise BadRequest(f"{unknown[0]}: not a limit (limits: {', '.join(LIMITS)})", code="invalid_budget")
    clean: dict[str, Any] = {}
    for name, most in LIMITS.items():
        value = values.get(name)
        if value is not None:
            whole = name in WHOLE
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or (
                    whole and value != int(value)):
                raise BadRequest(f"{name}: {'a whole number' if whole else 'a number'} or null",
                                 code="invalid_budget")
            if not 0 <= value <= most:
                raise BadRequest(f"{name}: from 0 to {most:,.0f} (null for no limit)", code="invalid_budget")
            value = int(value) if whole else float(value)
        clean[name] = value
    if all(v is None for v in clean.values()):
        raise BadRequest("Set at least one limit (or delete the budget)", code="invalid_budget")
    return clean


def _subject_exists(db: Db, scope: str, subject_id: str) -> bool:
    table = {"user": "users", "group": "groups", "key": "api_keys"}[scope]
    extra = " AND revoked_at IS NULL" if scope == "key" else ""
    return db.execute(f"SELECT 1 FROM {table} WHERE id = ?{extra}", subject_id).fetchone() is not None


def get(db: Db, scope: str, subject_id: str) -> BudgetRow | None:
    return BudgetRow.first(db, "WHERE scope = ? AND subject_id = ?", scope, subject_id)


def set_budget(db: Db, scope: str, subject_id: str, values: dict[str, Any]) -> BudgetRow:
    """Create or replace the budget of one user, group or key (all its limits at once)."""
    if scope not in SCOPES:
        raise BadRequest(f"scope: one of {', '.join(SCOPES)}", code="invalid_budget")
    clean = checked(values)
    if not _subject_exists(db, scope, subject_id):
        raise NotFound(f"No such {'API key' if scope == 'key' else scope}", code=f"{scope}_not_found")
    now = utcnow()
    earlier = get(db, scope, subject_id)
    row = BudgetRow(id=earlier.id if earlier else new_id(), scope=scope, subject_id=subject_id,
                    created_at=earlier.created_at if earlier else now, updated_at=now, **clean)
    db.lock("budget", scope, subject_id)
    db.execute("DELETE FROM budgets WHERE scope = ? AND subject_id = ?", scope, subject_id)
    row.insert(db)
    return row


def delete_budget(db: Db, scope: str, subject_id: str) -> None:
    if db.execute("DELETE FROM budgets WHERE scope = ? AND subject_id = ?", scope, subject_id).rowcount != 1:
        raise NotFound("No budget is set for it", code="budget_not_found")


def list_all(db: Db) -> list[BudgetRow]:
    return BudgetRow.select(db, "ORDER BY scope, subject_id")


def applicable(db: Db, user_id: str, api_key_id: str | None) -> list[BudgetRow]:
    """The budgets a call by this user (with this key) counts against, in lock order."""
    return BudgetRow.select(db, APPLICABLE, *applicable_params(user_id, api_key_id))


# `applicable`'s conditions and order, for a statement that reads more with the budgets.
APPLICABLE = ("WHERE (scope = 'user' AND subject_id = ?) OR (scope = 'key' AND subject_id = ?)"
              " OR (scope = 'group' AND subject_id IN (SELECT group_id FROM group_members WHERE user_id = ?))"
              " ORDER BY scope, subject_id")


def applicable_params(user_id: str, api_key_id: str | None) -> tuple[str, str, str]:
    return user_id, api_key_id or "", user_id

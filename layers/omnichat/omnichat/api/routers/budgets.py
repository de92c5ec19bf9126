"""Budgets and prices: the caller's own remaining budget (/api/auth/budget), and for
admins the prices per model, the budgets per user, group and key, and the cost report
(billing/)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from omnichat import audit
from omnichat.api.deps import SQL, AuditOrigin, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import Strict, WholeNumberOrNone
from omnichat.billing import budgets, costs, prices, reservations
from omnichat.db.lite import utcnow

router = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["budgets"])
admin_router = APIRouter(route_class=CheckedRoute, prefix="/api/admin", tags=["budgets"])


Price = Annotated[float | None, Field(default=None, ge=0, le=prices.MAX_PRICE)]


class PriceIn(Strict):
    """USD per million tokens of each kind; or, for an Ollama model, per GPU-hour."""

    input_per_mtok: Price
    output_per_mtok: Price
    cache_read_per_mtok: Price
    cache_write_per_mtok: Price
    gpu_hour: Price


def _limit(name: str) -> Any:  # the bounds are the core's (budgets.LIMITS), stated in the schema too
    return Field(default=None, ge=0, le=budgets.LIMITS[name])


class BudgetIn(Strict):
    """Every limit at once (null or left out: no limit; 0: nothing allowed)."""

    tokens_per_day: WholeNumberOrNone = _limit("tokens_per_day")
    tokens_per_month: WholeNumberOrNone = _limit("tokens_per_month")
    usd_per_day: float | None = _limit("usd_per_day")
    usd_per_month: float | None = _limit("usd_per_month")
    requests_per_minute: WholeNumberOrNone = _limit("requests_per_minute")
    concurrent_streams: WholeNumberOrNone = _limit("concurrent_streams")


def _price(row: prices.PriceRow) -> dict[str, Any]:
    return {"model": row.model, **{name: getattr(row, name) for name in prices.FIELDS},
            "updated_at": row.updated_at.isoformat()}


@router.get("/budget")
def my_budget(principal: CurrentUser, sql: SQL) -> dict[str, Any]:
    """The budgets the caller's calls count against (their own, their groups', the API
    key's they call with): each limit, what is used, what remains (null: no limit)."""
    return {"budgets": reservations.remaining(sql, principal.user_id, principal.api_key_id)}


@admin_router.get("/prices")
def list_prices(sql: SQL) -> list[dict[str, Any]]:
    return [_price(p) for p in prices.list_all(sql)]


@admin_router.put("/prices/{model_id:path}", responses=error_responses(400))
def put_price(model_id: str, body: PriceIn, sql: SQL, origin: AuditOrigin) -> dict[str, Any]:
    before = prices.of(sql, [model_id]).get(model_id)
    row = prices.set_price(sql, model_id, body.model_dump())
    audit.record(sql, origin, "budget.price_set", target=("model", model_id), details=audit.changes(
        {n: getattr(before, n) for n in prices.FIELDS} if before else {}, {n: getattr(row, n) for n in prices.FIELDS}))
    return _price(row)


@admin_router.delete("/prices/{model_id:path}", status_code=204, responses=error_responses(404))
def delete_price(model_id: str, sql: SQL, origin: AuditOrigin) -> Response:
    prices.delete_price(sql, model_id)
    audit.record(sql, origin, "budget.price_deleted", target=("model", model_id))
    return Response(status_code=204)


def _budget(sql: SQL, row: budgets.BudgetRow) -> dict[str, Any]:
    standing = reservations.standing(row, reservations.used(sql, row, reservations.Windows.at(utcnow())))
    exceeded = [name for name, left in standing["remaining"].items()
                if left == 0 and name not in ("requests_per_minute", "concurrent_streams")]
    return {"id": row.id, **standing, "exceeded": exceeded, "updated_at": row.updated_at.isoformat()}


@admin_router.get("/budgets")
def list_budgets(sql: SQL) -> list[dict[str, Any]]:
    """Every budget with what its user, group or key has used (today, this month, now)."""
    return [_budget(sql, b) for b in budgets.list_all(sql)]


def _put(sql: SQL, origin: audit.Origin, scope: str, subject_id: str, body: BudgetIn) -> dict[str, Any]:
    # Set below what is used already: taken, effective at once (`exceeded` names the limits).
    before = budgets.get(sql, scope, subject_id)
    row = budgets.set_budget(sql, scope, subject_id, body.model_dump())
    audit.record(sql, origin, "budget.set", target=(scope, subject_id),
                 details=audit.changes(before.limits() if before else {}, row.limits()))
    return _budget(sql, row)


def _delete(sql: SQL, origin: audit.Origin, scope: str, subject_id: str) -> Response:
    budgets.delete_budget(sql, scope, subject_id)
    audit.record(sql, origin, "budget.deleted", target=(scope, subject_id))
    return Response(status_code=204)


@admin_router.put("/budgets/users/{user_id}", responses=error_responses(400, 404))
def put_user_budget(user_id: str, body: BudgetIn, sql: SQL, origin: AuditOrigin) -> dict[str, Any]:
    return _put(sql, origin, "user", user_id, body)


@admin_router.delete("/budgets/users/{user_id}", status_code=204, responses=error_responses(404))
def delete_user_budget(user_id: str, sql: SQL, origin: AuditOrigin) -> Response:
    return _delete(sql, origin, "user", user_id)


@admin_router.put("/budgets/groups/{group_id}", responses=error_responses(400, 404))
def put_group_budget(group_id: str, body: BudgetIn, sql: SQL, origin: AuditOrigin) -> dict[str, Any]:
    return _put(sql, origin, "group", group_id, body)


@admin_router.delete("/budgets/groups/{group_id}", status_code=204, responses=error_responses(404))
def delete_group_budget(group_id: str, sql: SQL, origin: AuditOrigin) -> Response:
    return _delete(sql, origin, "group", group_id)


@admin_router.put("/budgets/keys/{key_id}", responses=error_responses(400, 404))
def put_key_budget(key_id: str, body: BudgetIn, sql: SQL, origin: AuditOrigin) -> dict[str, Any]:
    return _put(sql, origin, "key", key_id, body)


@admin_router.delete("/budgets/keys/{key_id}", status_code=204, responses=error_responses(404))
def delete_key_budget(key_id: str, sql: SQL, origin: AuditOrigin) -> Response:
    return _delete(sql, origin, "key", key_id)


CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}}


@admin_router.get("/usage/costs", response_model=None, responses=CSV)
def cost_report(sql: SQL, by: Literal["user", "group", "model", "key"] = "user",
                days: int = Query(30, ge=1, le=366),
                format: Literal["json", "csv"] = "json") -> dict[str, Any] | Response:
    """Calls, tokens and cost (USD) per user, group, model or key over the last `days`
    days (UTC); `format=csv` for a spreadsheet."""
    since = (utcnow() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = costs.totals(sql, since, by)
    if format == "csv":
        return Response(costs.to_csv(rows, by), media_type="text/csv; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="omnichat-costs-by-{by}-{since.date()}.csv"'})
    return {"since": since.date().isoformat(), "days": days, "by": by, "rows": rows,
            "total_usd": round(sum(r["cost_usd"] for r in rows), 6) if by != "group" else None}

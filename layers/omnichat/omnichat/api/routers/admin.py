"""/api/admin: users and platform settings (admins only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Response

from omnichat import settings_store, usage
from omnichat.api.deps import SQL, AppSettings
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import PlatformSettings, RoleIn, UserOut
from omnichat.auth import admin as users_admin
from omnichat.auth import users
from omnichat.db.lite import utcnow

router = APIRouter(route_class=CheckedRoute, prefix="/api/admin", tags=["admin"])


@router.get("/users", response_model=list[UserOut])
def list_users(db: SQL, limit: int = Query(50, ge=1, le=200), after: str | None = None,
               role: str | None = None) -> list[UserOut]:
    return [UserOut.of(u) for u in users_admin.list_users(db, limit=limit, after=after, role=role)]


@router.post("/users/{user_id}/approve", response_model=UserOut)
def approve(user_id: str, db: SQL) -> UserOut:
    user = users.get_user(db, user_id)
    if user.role == "pending":
        user = users_admin.set_role(db, user_id, "user")
    return UserOut.of(user)


@router.patch("/users/{user_id}", response_model=UserOut, responses=error_responses(409))
def change_role(user_id: str, body: RoleIn, db: SQL) -> UserOut:
    return UserOut.of(users_admin.set_role(db, user_id, body.role))


@router.delete("/users/{user_id}", status_code=204, responses=error_responses(409))
def delete_user(user_id: str, db: SQL) -> Response:
    users_admin.delete_user(db, user_id)
    return Response(status_code=204)


@router.get("/settings", response_model=PlatformSettings)
def get_platform_settings(sql: SQL, settings: AppSettings) -> PlatformSettings:
    return PlatformSettings(signup_policy=settings_store.signup_policy(sql, settings))  # type: ignore[arg-type]


@router.put("/settings", response_model=PlatformSettings)
def put_platform_settings(body: PlatformSettings, sql: SQL) -> PlatformSettings:
    settings_store.set_signup_policy(sql, body.signup_policy)
    return body


@router.get("/usage")
def usage_report(sql: SQL, days: int = Query(30, ge=1, le=366)) -> dict[str, Any]:
    """Tokens and calls per day, by model and by user, for the last `days` days (UTC)."""
    since = (utcnow() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"since": since.date().isoformat(), "days": days,
            "by_model": usage.daily_totals(sql, since, "model"), "by_user": usage.daily_totals(sql, since, "user")}

"""/api/admin: users and platform settings (admins only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Response

from omnichat import audit, settings_store, usage
from omnichat.api.deps import SQL, AppSettings, AuditOrigin
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import PlatformSettings, PlatformSettingsIn, RoleIn, UserOut
from omnichat.auth import admin as users_admin
from omnichat.auth import users
from omnichat.chats import shares
from omnichat.db.lite import utcnow
from omnichat.documents import files
from omnichat.documents.storage import storage_for

router = APIRouter(route_class=CheckedRoute, prefix="/api/admin", tags=["admin"])


@router.get("/users", response_model=list[UserOut])
def list_users(db: SQL, limit: int = Query(50, ge=1, le=200), after: str | None = None,
               role: str | None = None) -> list[UserOut]:
    return [UserOut.of(u) for u in users_admin.list_users(db, limit=limit, after=after, role=role)]


@router.post("/users/{user_id}/approve", response_model=UserOut)
def approve(user_id: str, db: SQL, origin: AuditOrigin) -> UserOut:
    user = users.get_user(db, user_id)
    if user.role == "pending":
        user = users_admin.set_role(db, user_id, "user")
        audit.record(db, origin, "user.approved", target=("user", user.id),
                     details={"email": user.email, "role": {"from": "pending", "to": "user"}})
    return UserOut.of(user)


@router.patch("/users/{user_id}", response_model=UserOut, responses=error_responses(409))
def change_role(user_id: str, body: RoleIn, db: SQL, origin: AuditOrigin) -> UserOut:
    before = users.get_user(db, user_id).role
    user = users_admin.set_role(db, user_id, body.role)
    audit.record_changes(db, origin, "user.role_changed", target=("user", user.id), before={"role": before},
                         after={"role": user.role}, context={"email": user.email})
    return UserOut.of(user)


@router.delete("/users/{user_id}", status_code=204, responses=error_responses(409))
def delete_user(user_id: str, db: SQL, settings: AppSettings, origin: AuditOrigin) -> Response:
    user = users.get_user(db, user_id)
    gone = files.of_user(db, user.id)  # their rows cascade; the stored objects go after the commit
    users_admin.delete_user(db, user_id)
    audit.record(db, origin, "user.deleted", target=("user", user.id), details={"email": user.email, "role": user.role})
    db.commit()
    files.drop_objects(storage_for(settings), gone)
    return Response(status_code=204)


@router.get("/settings", response_model=PlatformSettings)
def get_platform_settings(sql: SQL, settings: AppSettings) -> PlatformSettings:
    return PlatformSettings(signup_policy=settings_store.signup_policy(sql, settings),  # type: ignore[arg-type]
                            sharing_enabled=shares.enabled(sql), share_links_public=shares.public(sql))


@router.put("/settings", response_model=PlatformSettings)
def put_platform_settings(body: PlatformSettingsIn, sql: SQL, settings: AppSettings,
                          origin: AuditOrigin) -> PlatformSettings:
    """Change the settings given; those left out keep their value."""
    before = get_platform_settings(sql, settings)
    if body.signup_policy is not None:
        settings_store.set_signup_policy(sql, body.signup_policy)
    if body.sharing_enabled is not None:
        shares.set_enabled(sql, body.sharing_enabled)
    if body.share_links_public is not None:
        shares.set_public(sql, body.share_links_public)
    after = get_platform_settings(sql, settings)
    audit.record_changes(sql, origin, "settings.changed", target=("settings", "platform"),
                         before=before.model_dump(), after=after.model_dump())
    return after


@router.get("/usage")
def usage_report(sql: SQL, days: int = Query(30, ge=1, le=366)) -> dict[str, Any]:
    """Tokens and calls per day, by model and by user, for the last `days` days (UTC)."""
    since = (utcnow() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"since": since.date().isoformat(), "days": days,
            "by_model": usage.daily_totals(sql, since, "model"), "by_user": usage.daily_totals(sql, since, "user")}

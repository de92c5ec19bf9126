"""Presets (custom models, `preset/<slug>`): `/api/presets` for a user's own,
`/api/admin/presets` for the global ones. The rules are the core's
(catalog/preset_edits.py); a preset of another scope is not found (404), as is a
knowledge collection to bind that its author may not read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from omnichat import audit
from omnichat.api.deps import SQL, AppSettings, AuditOrigin, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import ChatParams, Strict, not_null
from omnichat.auth.principal import Principal
from omnichat.catalog import catalog, preset_edits, presets
from omnichat.catalog.presets import PresetRow
from omnichat.config import Settings
from omnichat.db.lite import Db

router = APIRouter(route_class=CheckedRoute, prefix="/api/presets", tags=["presets"])
admin_router = APIRouter(route_class=CheckedRoute, prefix="/api/admin/presets", tags=["presets"])

ModelId = Annotated[str, Field(min_length=1, max_length=300)]
Visibility = Literal["everyone", "admins", "users", "groups", "private"]


class PresetIn(Strict):
    slug: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    base_model: ModelId
    system_prompt: str | None = Field(default=None, max_length=20_000)
    params: ChatParams | None = None
    fallbacks: list[ModelId] | None = Field(default=None, max_length=10)
    # Global presets: everyone (default), admins, users (the named `users`) or groups (the
    # members of the named `groups`); a user's own: private.
    visibility: Visibility | None = None
    users: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(default=None, max_length=500)
    groups: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(default=None, max_length=100)
    # Knowledge collections the preset searches (ids of collections the author may read).
    collections: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(
        default=None, max_length=preset_edits.MAX_COLLECTIONS)


class PresetPatch(Strict):
    name: str = not_null(min_length=1, max_length=200)
    description: str = not_null(max_length=2000)
    base_model: ModelId = not_null()
    system_prompt: str | None = Field(default=None, max_length=20_000)
    params: ChatParams | None = None
    fallbacks: list[ModelId] | None = Field(default=None, max_length=10)
    visibility: Visibility = not_null()
    users: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(default=None, max_length=500)
    groups: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(default=None, max_length=100)
    # Knowledge collections the preset searches (ids of collections the author may read).
    collections: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(
        default=None, max_length=preset_edits.MAX_COLLECTIONS)


class PresetOut(BaseModel):
    id: str
    model_id: str  # `preset/<slug>`: what a chat, /v1 or the terminal client names
    slug: str
    scope: Literal["global", "personal"]
    name: str
    description: str
    base_model: str
    system_prompt: str | None
    params: dict[str, Any]
    fallbacks: list[str]
    visibility: str
    users: list[str]  # the named users of visibility `users`
    groups: list[str]  # the named groups of visibility `groups`
    collections: list[str]  # the knowledge collections it searches (for each user, those they may read)
    usable: bool  # false: its base model was disabled since (see `problem`)
    problem: str | None
    created_at: datetime
    updated_at: datetime


def _out(db: Db, settings: Settings, principal: Principal, row: PresetRow, users: list[str] | None = None
         ) -> PresetOut:
    try:
        catalog.preset_model(db, settings, principal, row)
        problem = None
    except catalog.ModelNotAvailable as exc:
        problem = exc.message
    return PresetOut(id=row.id, model_id=row.model_id, slug=row.slug,
                     scope="global" if row.owner_id is None else "personal", name=row.name,
                     description=row.description, base_model=row.base_model, system_prompt=row.system_prompt,
                     params=row.params, fallbacks=row.chain, visibility=row.visibility,
                     users=presets.named_users(db, row.id) if users is None else users,
                     groups=presets.named_groups(db, row.id), collections=presets.bound_collections(db, row.id),
                     usable=problem is None,
                     problem=problem, created_at=row.created_at, updated_at=row.updated_at)


def model_entries(db: Db, settings: Settings, principal: Principal) -> list[dict[str, Any]]:
    """The presets this principal may pick, as entries of GET /api/models (provider
    `preset`; `details` names the base model)."""
    return [{"id": p.model_id, "provider": "preset", "name": p.slug, "display_name": p.name, "enabled": True,
             "visibility": p.visibility, "params": p.params,
             # a global chain is the admin's setup, which may name models hidden from this user
             "fallbacks": p.chain if p.owner_id is not None or principal.is_admin else [],
             "details": {"base_model": p.base_model, "description": p.description,
                         "scope": "global" if p.owner_id is None else "personal"}}
            for p in catalog.usable_presets(db, settings, principal)]


def _given(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


def _audited(row: PresetRow, users: list[str], collections: list[str]) -> dict[str, Any]:
    """A global preset's fields as the audit log records them (before and after a change)."""
    return {"slug": row.slug, "name": row.name, "description": row.description, "base_model": row.base_model,
            "system_prompt": row.system_prompt, "params": row.params, "fallbacks": row.chain,
            "visibility": row.visibility, "users": users, "collections": collections}


# ---- a user's own ----------------------------------------------------------------------
@router.get("", response_model=list[PresetOut])
def list_own(principal: CurrentUser, sql: SQL, settings: AppSettings) -> list[PresetOut]:
    return [_out(sql, settings, principal, p) for p in presets.list_owned(sql, principal.user_id)]


@router.post("", response_model=PresetOut, status_code=201, responses=error_responses(404, 409))
async def create_own(body: PresetIn, principal: CurrentUser, sql: SQL, settings: AppSettings) -> PresetOut:
    row, users = await preset_edits.create(sql, settings, principal, principal.user_id, _given(body))
    return _out(sql, settings, principal, row, users)


@router.get("/{preset_id}", response_model=PresetOut)
def get_own(preset_id: str, principal: CurrentUser, sql: SQL, settings: AppSettings) -> PresetOut:
    return _out(sql, settings, principal, preset_edits.get(sql, principal.user_id, preset_id))


@router.patch("/{preset_id}", response_model=PresetOut)
async def update_own(preset_id: str, body: PresetPatch, principal: CurrentUser, sql: SQL,
                     settings: AppSettings) -> PresetOut:
    row, users = await preset_edits.update(sql, settings, principal, principal.user_id, preset_id, _given(body))
    return _out(sql, settings, principal, row, users)


@router.delete("/{preset_id}", status_code=204)
def delete_own(preset_id: str, principal: CurrentUser, sql: SQL) -> Response:
    preset_edits.remove(sql, principal.user_id, preset_id)
    return Response(status_code=204)


# ---- global (admins) -------------------------------------------------------------------
@admin_router.get("", response_model=list[PresetOut])
def list_global(principal: CurrentUser, sql: SQL, settings: AppSettings) -> list[PresetOut]:
    return [_out(sql, settings, principal, p) for p in presets.list_owned(sql, None)]


@admin_router.post("", response_model=PresetOut, status_code=201, responses=error_responses(404, 409))
async def create_global(body: PresetIn, principal: CurrentUser, sql: SQL, settings: AppSettings,
                        origin: AuditOrigin) -> PresetOut:
    row, users = await preset_edits.create(sql, settings, principal, None, _given(body))
    audit.record(sql, origin, "preset.created", target=("preset", row.id),
                 details=_audited(row, users, presets.bound_collections(sql, row.id)))
    return _out(sql, settings, principal, row, users)


@admin_router.get("/{preset_id}", response_model=PresetOut)
def get_global(preset_id: str, principal: CurrentUser, sql: SQL, settings: AppSettings) -> PresetOut:
    return _out(sql, settings, principal, preset_edits.get(sql, None, preset_id))


@admin_router.patch("/{preset_id}", response_model=PresetOut)
async def update_global(preset_id: str, body: PresetPatch, principal: CurrentUser, sql: SQL,
                        settings: AppSettings, origin: AuditOrigin) -> PresetOut:
    old = preset_edits.get(sql, None, preset_id)
    before = _audited(old, presets.named_users(sql, old.id), presets.bound_collections(sql, old.id))
    row, users = await preset_edits.update(sql, settings, principal, None, preset_id, _given(body))
    if changed := audit.changes(before, _audited(row, users, presets.bound_collections(sql, row.id))):
        audit.record(sql, origin, "preset.updated", target=("preset", row.id), details={"slug": row.slug, **changed})
    return _out(sql, settings, principal, row, users)


@admin_router.delete("/{preset_id}", status_code=204)
def delete_global(preset_id: str, sql: SQL, origin: AuditOrigin) -> Response:
    row = preset_edits.get(sql, None, preset_id)
    preset_edits.remove(sql, None, preset_id)
    audit.record(sql, origin, "preset.deleted", target=("preset", row.id), details={"slug": row.slug, "name": row.name})
    return Response(status_code=204)

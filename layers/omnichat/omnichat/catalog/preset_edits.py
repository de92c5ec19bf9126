"""Saving presets: every field checked, the whole preset at once, before anything is
stored. A refusal names the field (`details.field`); nothing is saved half-way.

- `base_model`: a plain model id (`ollama/…`, `bedrock/…`; not another preset) whose
  provider is enabled and which is enabled; a user's own preset needs a base they may
  use. A provider that lists its models must list it; one that cannot be listed right
  now is not judged here (the call will say), as for a chat's model.
- `fallbacks`: checked as an admin's chain is (catalog/chains.py: known, enabled, plain
  model ids, no cycle); a user's own chain holds only models they may use.
- `slug`: see presets.py. It is the preset's id (`preset/<slug>`) and never changes.
- `visibility`: a global preset's `everyone`, `admins`, `users` (with `users`, the
  named accounts) or `groups` (with `groups`, the members of the named groups); a user's
  own is always `private`.
- `collections`: at most 5 knowledge collections the preset searches. Its author binds
  collections they may read (documents/access.py), else a 404 `collection_not_found`;
  one bound before and kept need not be readable by whoever saves now (another admin).
  Each user of the preset gets only those they may read themselves (presets.collections_for).
  Deleting a collection unbinds it (ON DELETE CASCADE)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from omnichat.auth.principal import Principal
from omnichat.catalog import catalog, chains, presets
from omnichat.catalog.presets import PresetRow
from omnichat.chats.params import checked as checked_params
from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
from omnichat.documents import collections as knowledge
from omnichat.errors import BadRequest, Conflict, NotFound
from omnichat.ids import new_id
from omnichat.providers import registry

EDITABLE = ("name", "description", "base_model", "system_prompt", "params", "fallbacks", "visibility", "users",
            "groups", "collections")
MAX_COLLECTIONS = 5


class InvalidPreset(BadRequest):
    code = "invalid_preset"


class SlugTaken(Conflict):
    code = "preset_slug_taken"


class PresetNotFound(NotFound):
    code = "preset_not_found"


def _invalid(field: str, message: str) -> InvalidPreset:
    return InvalidPreset(f"{field}: {message}", details={"field": field})


async def create(db: Db, settings: Settings, principal: Principal, owner_id: str | None,
                 fields: dict[str, Any]) -> tuple[PresetRow, list[str]]:
    """A new preset in `owner_id`'s scope (None: global), with its named users."""
    slug = fields["slug"]
    if not presets.SLUG.fullmatch(slug):
        raise _invalid("slug", "1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
    now = utcnow()
    row = PresetRow(id=new_id(), owner_id=owner_id, slug=slug, name="", description="", base_model="",
                    system_prompt=None, params={}, fallbacks="", visibility="", created_at=now, updated_at=now)
    defaults: dict[str, Any] = {"description": "", "system_prompt": None, "params": {}, "fallbacks": [], "users": [],
                                "groups": [],
                                "visibility": "everyone" if owner_id is None else presets.PRIVATE}
    given = {name: value for name, value in fields.items() if value is not None}
    users, groups = await _apply(db, settings, principal, row, {**defaults, **given})
    bound = _checked_collections(db, principal, given.get("collections") or [], [])
    db.lock("presets")
    _slug_free(db, principal, row)
    presets.save(db, row, new=True)
    presets.set_named_users(db, row.id, users)
    presets.set_named_groups(db, row.id, groups)
    presets.set_bound_collections(db, row.id, bound)
    return row, users


async def update(db: Db, settings: Settings, principal: Principal, owner_id: str | None, preset_id: str,
                 changes: dict[str, Any]) -> tuple[PresetRow, list[str]]:
    row = get(db, owner_id, preset_id)
    was_bound = presets.bound_collections(db, row.id)
    current = {"users": presets.named_users(db, row.id), "groups": presets.named_groups(db, row.id),
               "fallbacks": row.chain, "collections": was_bound,
               **{name: getattr(row, name) for name in EDITABLE
                  if name not in ("users", "groups", "fallbacks", "collections")}}
    if changes.get("visibility", "users") != "users" and "users" not in changes:
        changes = {**changes, "users": []}  # no longer shown to named users: the names go
    if changes.get("visibility", "groups") != "groups" and "groups" not in changes:
        changes = {**changes, "groups": []}  # likewise the named groups
    updated = replace(row, updated_at=utcnow())
    users, groups = await _apply(db, settings, principal, updated, {**current, **changes})
    bound = _checked_collections(db, principal, changes["collections"] or [], was_bound) \
        if "collections" in changes else was_bound
    presets.save(db, updated, new=False)
    presets.set_named_users(db, updated.id, users)
    presets.set_named_groups(db, updated.id, groups)
    if bound != was_bound:
        presets.set_bound_collections(db, updated.id, bound)
    return updated, users


def get(db: Db, owner_id: str | None, preset_id: str) -> PresetRow:
    row = presets.get_owned(db, owner_id, preset_id)
    if row is None:
        raise PresetNotFound("No such preset")
    return row


def remove(db: Db, owner_id: str | None, preset_id: str) -> None:
    presets.delete(db, get(db, owner_id, preset_id).id)


async def _apply(db: Db, settings: Settings, principal: Principal, row: PresetRow, fields: dict[str, Any]
                 ) -> tuple[list[str], list[str]]:
    """Check `fields` and set them on `row`; returns the named users and groups."""
    personal = row.owner_id is not None
    name = fields["name"].strip()
    if not name:
        raise _invalid("name", "must not be empty")
    visibility = fields["visibility"]
    if personal and visibility != presets.PRIVATE:
        raise _invalid("visibility", "your own presets are private: only you see them")
    if not personal and visibility not in presets.GLOBAL_VISIBILITIES:
        raise _invalid("visibility", "one of everyone, admins, users, groups")
    users = list(dict.fromkeys(fields["users"] or []))
    if users and visibility != "users":
        raise _invalid("users", "named users are only for visibility 'users'")
    for index, user_id in enumerate(users):
        if db.execute("SELECT 1 FROM users WHERE id = ?", user_id).fetchone() is None:
            raise InvalidPreset(f"users: no user {user_id!r}", details={"field": "users", "index": index})
    named_groups = list(dict.fromkeys(fields.get("groups") or []))
    if named_groups and visibility != "groups":
        raise _invalid("groups", "named groups are only for visibility 'groups'")
    for index, group_id in enumerate(named_groups):
        if db.execute("SELECT 1 FROM groups WHERE id = ?", group_id).fetchone() is None:
            raise InvalidPreset(f"groups: no group {group_id!r}", details={"field": "groups", "index": index})
    params = checked_params(fields["params"] or {}, "params")
    await _check_base(db, settings, principal, fields["base_model"], personal)
    chain = await chains.checked(db, settings, row.model_id, list(fields["fallbacks"] or []))
    if personal:
        for index, fallback in enumerate(chain):
            if not catalog.may_use(principal, catalog.model_settings(db, fallback)):
                raise InvalidPreset(f"fallbacks: {fallback} is not available to you",
                                    details={"field": "fallbacks", "index": index, "model": fallback})
    system = fields["system_prompt"]
    row.name, row.description, row.base_model = name, fields["description"] or "", fields["base_model"]
    row.system_prompt, row.params, row.fallbacks = system or None, params, "\n".join(chain)
    row.visibility = visibility
    return users, named_groups


def _checked_collections(db: Db, principal: Principal, collection_ids: list[str], was_bound: list[str]
                         ) -> list[str]:
    """The collections to bind (sorted, once each): at most MAX_COLLECTIONS, each one newly
    bound readable by `principal` (a 404 `collection_not_found` otherwise)."""
    ids = sorted(set(collection_ids))
    if len(ids) > MAX_COLLECTIONS:
        raise _invalid("collections", f"at most {MAX_COLLECTIONS} knowledge collections")
    try:
        knowledge.readable_ids(db, principal, [c for c in ids if c not in was_bound])
    except NotFound as exc:
        raise NotFound(exc.message, code="collection_not_found", details={"field": "collections"}) from None
    return ids


async def _check_base(db: Db, settings: Settings, principal: Principal, model_id: str, personal: bool) -> None:
    if presets.is_preset(model_id):
        raise _invalid("base_model", "a preset's base is a model (ollama/… or bedrock/…), not another preset")
    try:
        provider, _ = catalog.split_id(model_id)
    except catalog.ModelNotAvailable as exc:
        raise _invalid("base_model", exc.message) from None
    if not registry.enabled(settings, provider):
        raise _invalid("base_model", f"the {provider} provider is not enabled on this server")
    ms = catalog.model_settings(db, model_id)
    if not ms.enabled:
        raise _invalid("base_model", f"{model_id} is disabled")
    if personal and not catalog.may_use(principal, ms):
        raise _invalid("base_model", f"{model_id} is not available to you")
    found, errors = await catalog.discover(settings)
    if provider not in errors and all(m.id != model_id for m in found):
        raise _invalid("base_model", f"{model_id} is not a model this server offers")


def _slug_free(db: Db, principal: Principal, row: PresetRow) -> None:
    taken = SlugTaken(f"slug: {row.model_id} is taken: choose another slug", details={"field": "slug"})
    if presets.PresetRow.first(db, "WHERE slug = ? AND " + ("owner_id = ?" if row.owner_id else presets.GLOBAL_SQL),
                               row.slug, *([row.owner_id] if row.owner_id else [])) is not None:
        raise taken
    if row.owner_id is not None and presets.global_slug_visible(db, principal, row.slug):
        raise taken

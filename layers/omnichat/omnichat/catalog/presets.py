"""Presets: custom models, used as `preset/<slug>` wherever a model id goes.

A preset is a base model with a system prompt, default parameters and an optional
fallback chain, and may be bound to knowledge collections (`preset_collections`) that
join its users' questions' scope where they may read them. Admins define global ones (no
owner) for everyone, for admins, or for named users (`preset_users`) or for the members of
named groups (`preset_groups`); any user defines their own, which only they see.

Slugs: a global slug is unique among global presets; a user's own slug is unique among
theirs and, when saved, may not be a global slug that user can see (preset_edits.py). If
an admin later adds or widens a global preset with the same slug, the user's own one
keeps the name for that user (`find` looks there first), so nothing they use changes.

Rows are read and written with plain SQL (the WebSocket Lambda resolves presets without
loading SQLAlchemy); models.py describes the tables for the migrations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichat.auth.principal import Principal
from omnichat.db.lite import Db, Record

PREFIX = "preset/"
SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
GLOBAL_VISIBILITIES = ("everyone", "admins", "users", "groups")
PRIVATE = "private"  # a user's own preset
GLOBAL_SQL = "owner_id IS NULL"  # the partial unique index's predicate


@dataclass
class PresetRow(Record):
    TABLE = "presets"
    JSON = ("params",)

    id: str
    owner_id: str | None
    slug: str
    name: str
    description: str
    base_model: str
    system_prompt: str | None
    params: dict[str, Any]
    fallbacks: str  # model ids, one per line
    visibility: str
    created_at: datetime
    updated_at: datetime

    @property
    def model_id(self) -> str:
        return PREFIX + self.slug

    @property
    def chain(self) -> list[str]:
        return [line for line in self.fallbacks.splitlines() if line]


def is_preset(model_id: str) -> bool:
    return model_id.startswith(PREFIX)


def _visible_sql(principal: Principal) -> tuple[str, list[Any]]:
    """Global presets this principal may use (admins: all of them)."""
    if principal.is_admin:
        return GLOBAL_SQL, []
    return (f"{GLOBAL_SQL} AND (visibility = 'everyone' OR (visibility = 'users' AND EXISTS ("
            "SELECT 1 FROM preset_users u WHERE u.preset_id = presets.id AND u.user_id = ?)) OR (visibility = 'groups'"
            " AND EXISTS (SELECT 1 FROM preset_groups pg JOIN group_members gm ON gm.group_id = pg.group_id"
            " WHERE pg.preset_id = presets.id AND gm.user_id = ?)))",
            [principal.user_id, principal.user_id])


def find(db: Db, principal: Principal, slug: str) -> PresetRow | None:
    """The preset `preset/<slug>` names for this principal: their own first, then a global
    one they may use."""
    own = PresetRow.first(db, "WHERE owner_id = ? AND slug = ?", principal.user_id, slug)
    if own is not None:
        return own
    where, params = _visible_sql(principal)
    return PresetRow.first(db, f"WHERE {where} AND slug = ?", *params, slug)


def usable(db: Db, principal: Principal) -> list[PresetRow]:
    """Every preset this principal may pick: their own, then the global ones they may use
    whose slug is not one of their own."""
    own = PresetRow.select(db, "WHERE owner_id = ? ORDER BY slug", principal.user_id)
    where, params = _visible_sql(principal)
    taken = {p.slug for p in own}
    shared = [p for p in PresetRow.select(db, f"WHERE {where} ORDER BY slug", *params) if p.slug not in taken]
    return own + shared


def global_slug_visible(db: Db, principal: Principal, slug: str) -> bool:
    where, params = _visible_sql(principal)
    return PresetRow.first(db, f"WHERE {where} AND slug = ?", *params, slug) is not None


def list_owned(db: Db, owner_id: str | None) -> list[PresetRow]:
    """A user's own presets, or (None) the global ones."""
    if owner_id is None:
        return PresetRow.select(db, f"WHERE {GLOBAL_SQL} ORDER BY slug")
    return PresetRow.select(db, "WHERE owner_id = ? ORDER BY slug", owner_id)


def get_owned(db: Db, owner_id: str | None, preset_id: str) -> PresetRow | None:
    """A preset by id within one scope: another user's (or a global one, asked as a user)
    is not found."""
    if owner_id is None:
        return PresetRow.first(db, f"WHERE id = ? AND {GLOBAL_SQL}", preset_id)
    return PresetRow.first(db, "WHERE id = ? AND owner_id = ?", preset_id, owner_id)


@dataclass(frozen=True)
class Link:
    """A table linking a preset to ids it names: `preset_id` and `column`, nothing else."""

    table: str
    column: str

    def ids(self, db: Db, preset_id: str) -> list[str]:
        rows = db.execute(f"SELECT {self.column} FROM {self.table} WHERE preset_id = ? ORDER BY {self.column}",
                          preset_id).fetchall()
        return [row[0] for row in rows]

    def replace(self, db: Db, preset_id: str, ids: list[str]) -> None:
        db.execute(f"DELETE FROM {self.table} WHERE preset_id = ?", preset_id)
        for linked_id in ids:
            db.insert(self.table, {"preset_id": preset_id, self.column: linked_id})


# One query each way serves the three links (tests/test_record_contract.py checks their
# tables and columns, which the plain-insert check cannot see through `self.table`).
USERS = Link("preset_users", "user_id")
GROUPS = Link("preset_groups", "group_id")
COLLECTIONS = Link("preset_collections", "collection_id")  # bound: whoever may read them
LINKS = (USERS, GROUPS, COLLECTIONS)
named_users, set_named_users = USERS.ids, USERS.replace
named_groups, set_named_groups = GROUPS.ids, GROUPS.replace
bound_collections, set_bound_collections = COLLECTIONS.ids, COLLECTIONS.replace


def collections_for(db: Db, preset_id: str, user_id: str) -> list[str]:
    """The preset's collections that this user may read: what it puts in their question's
    scope. A preset never lends its users a collection they could not select themselves."""
    from omnichat.documents import access  # plain strings; imported only when a preset is used

    readable = access.readable("c.user_id", "c.id")
    rows = db.execute("SELECT pc.collection_id FROM preset_collections pc JOIN collections c ON c.id = pc.collection_id"
                      f" WHERE pc.preset_id = ? AND {readable} ORDER BY pc.collection_id", preset_id, user_id,
                      user_id).fetchall()
    return [row[0] for row in rows]


def save(db: Db, row: PresetRow, *, new: bool) -> None:
    if new:
        row.insert(db)
        return
    columns = [n for n in PresetRow.names() if n not in ("id", "owner_id", "created_at")]
    db.execute(f"UPDATE presets SET {', '.join(f'{n} = ?' for n in columns)} WHERE id = ?",
               *(getattr(row, n) for n in columns), row.id)


def delete(db: Db, preset_id: str) -> None:
    db.execute("DELETE FROM preset_users WHERE preset_id = ?", preset_id)
    db.execute("DELETE FROM preset_groups WHERE preset_id = ?", preset_id)
    db.execute("DELETE FROM preset_collections WHERE preset_id = ?", preset_id)
    db.execute("DELETE FROM presets WHERE id = ?", preset_id)

"""Groups of users: `local` ones an admin manages, `idp` ones whose members the identity
provider's group claim sets at each single sign-on (auth/sso_users.py). Presets and
model visibility may name groups; budgets read a user's groups (`group_ids`).

Plain SQL over `omnichat.db.lite`; models.py describes the tables for the migrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omnichat import settings_store
from omnichat.db.lite import Db, Record, utcnow
from omnichat.errors import BadRequest, Conflict, NotFound
from omnichat.ids import new_id

SOURCES = ("local", "idp")
MAX_NAME = 100
MODEL_SETTINGS = "model:"  # catalog.KEY_PREFIX (not imported: the catalog loads the providers)


@dataclass
class GroupRow(Record):
    TABLE = "groups"

    id: str
    name: str
    source: str  # local | idp
    external_id: str | None  # the group claim's value, for idp groups
    created_at: datetime
    updated_at: datetime


def group_ids(db: Db, user_id: str) -> list[str]:
    """The ids of the groups `user_id` belongs to (sorted; empty when none)."""
    rows = db.execute("SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id", user_id).fetchall()
    return [row[0] for row in rows]


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise BadRequest(f"A group's name is 1 to {MAX_NAME} characters", code="invalid_group_name")
    return name


def get(db: Db, group_id: str) -> GroupRow:
    group = GroupRow.first(db, "WHERE id = ?", group_id)
    if group is None:
        raise NotFound("No such group", code="group_not_found")
    return group


def list_all(db: Db) -> list[tuple[GroupRow, int]]:
    """Every group with its number of members, by name."""
    counts = dict(db.execute("SELECT group_id, count(*) FROM group_members GROUP BY group_id").fetchall())
    return [(g, int(counts.get(g.id, 0))) for g in GroupRow.select(db, "ORDER BY name, id")]


def _name_free(db: Db, name: str, but: str | None = None) -> None:
    row = db.execute("SELECT id FROM groups WHERE lower(name) = lower(?)", name).fetchone()
    if row is not None and row[0] != but:
        raise Conflict(f"A group named {name!r} exists already", code="group_name_taken")


def create(db: Db, name: str) -> GroupRow:
    name = clean_name(name)
    _name_free(db, name)
    now = utcnow()
    group = GroupRow(id=new_id(), name=name, source="local", external_id=None, created_at=now, updated_at=now)
    if group.insert(db, "ON CONFLICT DO NOTHING").rowcount != 1:  # a concurrent create won
        raise Conflict(f"A group named {name!r} exists already", code="group_name_taken")
    return group


def rename(db: Db, group_id: str, name: str) -> GroupRow:
    group = get(db, group_id)
    name = clean_name(name)
    _name_free(db, name, but=group.id)
    group.name, group.updated_at = name, utcnow()
    db.execute("UPDATE groups SET name = ?, updated_at = ? WHERE id = ?", name, group.updated_at, group.id)
    return group


def delete(db: Db, group_id: str) -> None:
    group = get(db, group_id)
    db.execute("DELETE FROM group_members WHERE group_id = ?", group.id)
    db.execute("DELETE FROM preset_groups WHERE group_id = ?", group.id)
    db.execute("DELETE FROM budgets WHERE scope = 'group' AND subject_id = ?", group.id)  # no foreign key
    # The models shown to it (catalog.ModelSettings.groups, JSON in `settings`) no longer name
    # it: an admin's next edit of such a model would be refused for naming an unknown group.
    for key, value in settings_store.values_under(db, MODEL_SETTINGS).items():
        if isinstance(value, dict) and isinstance(value.get("groups"), list) and group.id in value["groups"]:
            settings_store.set_value(db, MODEL_SETTINGS + key, {
                **value, "groups": [g for g in value["groups"] if g != group.id]})
    db.execute("DELETE FROM groups WHERE id = ?", group.id)


def members(db: Db, group_id: str) -> list[tuple[str, str, str]]:
    """(user id, email, name) of a group's members, by email."""
    get(db, group_id)
    rows = db.execute("SELECT u.id, u.email, u.name FROM group_members m JOIN users u ON u.id = m.user_id "
                      "WHERE m.group_id = ? ORDER BY u.email", group_id).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _local(db: Db, group_id: str) -> GroupRow:
    group = get(db, group_id)
    if group.source != "local":
        raise Conflict("This group's members come from the identity provider: change them there "
                       "(they apply at each member's next sign-in)", code="group_synced")
    return group


def add_member(db: Db, group_id: str, user_id: str) -> None:
    group = _local(db, group_id)
    if db.execute("SELECT 1 FROM users WHERE id = ?", user_id).fetchone() is None:
        raise NotFound("No such user", code="user_not_found")
    db.insert("group_members", {"group_id": group.id, "user_id": user_id, "created_at": utcnow()},
              "ON CONFLICT DO NOTHING")


def remove_member(db: Db, group_id: str, user_id: str) -> None:
    group = _local(db, group_id)
    db.execute("DELETE FROM group_members WHERE group_id = ? AND user_id = ?", group.id, user_id)


def existing_ids(db: Db, ids: list[str]) -> list[str]:
    """`ids` checked to name groups (a 400 naming the unknown ones), deduplicated, sorted."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    marks = ", ".join("?" for _ in wanted)
    found = {r[0] for r in db.execute(f"SELECT id FROM groups WHERE id IN ({marks})", *wanted).fetchall()}
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise BadRequest(f"No such group: {', '.join(unknown)}", code="group_not_found")
    return wanted


def _free_idp_name(db: Db, name: str) -> str:
    """`name`, else `name (IdP)`, else `name (IdP 2)`, ...: the first no group has (a
    local group, or another claim value differing only in case or past 100 characters,
    must not make the sign-in fail)."""
    for n in range(1, 1000):
        suffix = "" if n == 1 else " (IdP)" if n == 2 else f" (IdP {n - 1})"
        candidate = f"{name[:MAX_NAME - len(suffix)]}{suffix}"
        if db.execute("SELECT 1 FROM groups WHERE lower(name) = lower(?)", candidate).fetchone() is None:
            return candidate
    return f"{name[:MAX_NAME - 40]} (IdP {new_id()})"


def sync_from_claim(db: Db, user_id: str, values: list[str]) -> list[str]:
    """Make the user's `idp` groups exactly those the claim names (creating a group for a
    value seen for the first time); `local` memberships are left alone. The ids of the
    user's groups after the sync."""
    now = utcnow()
    wanted: set[str] = set()
    for value in sorted({v.strip() for v in values if v.strip()}):
        value = value[:300]
        row = db.execute("SELECT id FROM groups WHERE external_id = ?", value).fetchone()
        if row is None:
            name = _free_idp_name(db, " ".join(value.split())[:MAX_NAME] or "group")
            db.insert("groups", {"id": new_id(), "name": name, "source": "idp", "external_id": value,
                                 "created_at": now, "updated_at": now}, "ON CONFLICT DO NOTHING")
            row = db.execute("SELECT id FROM groups WHERE external_id = ?", value).fetchone()
            if row is None:  # the name was taken too, by a concurrent sign-in's group
                raise Conflict("A group could not be made for the identity provider's group claim",
                               code="group_name_taken")
        wanted.add(row[0])
    have = {r[0] for r in db.execute("SELECT m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id "
                                     "WHERE m.user_id = ? AND g.source = 'idp'", user_id).fetchall()}
    for gone in have - wanted:
        db.execute("DELETE FROM group_members WHERE group_id = ? AND user_id = ?", gone, user_id)
    for new in wanted - have:
        db.insert("group_members", {"group_id": new, "user_id": user_id, "created_at": now}, "ON CONFLICT DO NOTHING")
    return group_ids(db, user_id)

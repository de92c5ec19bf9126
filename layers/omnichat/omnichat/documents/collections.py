"""Knowledge collections (docs/documents.md): a user's named sets of files, shared read-only
with groups (`collection_groups`).

- The owner does everything: rename, describe, add and delete files, share with a group
  they belong to (an admin owner: with any group), stop sharing, delete the collection
  (and its files).
- A member of a group it is shared with reads it: lists its files, searches and cites it.
  Anything more is a 403 `read_only` (they can see it exists).
- Anyone else, admins included: it does not exist (404 `collection_not_found`).

Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from omnichat.auth.principal import Principal
from omnichat.db.lite import Db, Record, utcnow
from omnichat.documents import access, files
from omnichat.documents.storage import Storage
from omnichat.errors import BadRequest, Conflict, Forbidden, NotFound
from omnichat.ids import new_id

MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_COLLECTIONS = 200

# A collection the user (the two `?`: their id) may read: theirs, or shared with a group of theirs.
READABLE = access.readable("collections.user_id", "collections.id")


@dataclass
class CollectionRow(Record):
    TABLE = "collections"

    id: str
    user_id: str
    name: str
    description: str | None
    embed_model: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class CollectionView:
    """A collection as the caller sees it: whether it is theirs, how many files it holds,
    and (for its owner only) the groups it is shared with."""

    row: CollectionRow
    owned: bool
    file_count: int = 0
    groups: list[str] = field(default_factory=list)


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise BadRequest(f"A collection's name is 1 to {MAX_NAME} printable characters",
                         code="invalid_collection_name")
    return name


def clean_description(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_DESCRIPTION:
        raise BadRequest(f"A description has at most {MAX_DESCRIPTION} characters", code="invalid_description")
    return text or None


# ---------------------------------------------------------------------------------- reads
def get_readable(db: Db, principal: Principal, collection_id: str) -> CollectionRow:
    found = CollectionRow.first(db, f"WHERE collections.id = ? AND {READABLE}", collection_id,
                                principal.user_id, principal.user_id)
    if found is None:
        raise NotFound("No such collection", code="collection_not_found")
    return found


def get_owned(db: Db, principal: Principal, collection_id: str) -> CollectionRow:
    found = get_readable(db, principal, collection_id)
    if found.user_id != principal.user_id:
        raise Forbidden("This collection is shared with you to read only", code="read_only")
    return found


def readable_ids(db: Db, principal: Principal, collection_ids: list[str]) -> list[str]:
    """`collection_ids` (in order, once each) if the caller may read every one; else a 404
    `collection_not_found`. For a chat message's selected collections."""
    ids = list(dict.fromkeys(collection_ids))
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    found = {row[0] for row in db.execute(f"SELECT id FROM collections WHERE id IN ({marks}) AND {READABLE}",
                                          *ids, principal.user_id, principal.user_id).fetchall()}
    if len(found) != len(ids):
        raise NotFound("No such collection", code="collection_not_found")
    return ids


def view(db: Db, principal: Principal, row: CollectionRow) -> CollectionView:
    return _views(db, principal, [row])[0]


def list_readable(db: Db, principal: Principal) -> list[CollectionView]:
    """The caller's collections and those shared with them, by name."""
    rows = CollectionRow.select(db, f"WHERE {READABLE} ORDER BY lower(name), id", principal.user_id,
                                principal.user_id)
    return _views(db, principal, rows)


def _views(db: Db, principal: Principal, rows: list[CollectionRow]) -> list[CollectionView]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    marks = ", ".join("?" * len(ids))
    counts = dict(db.execute(f"SELECT collection_id, COUNT(*) FROM files WHERE collection_id IN ({marks})"
                             " GROUP BY collection_id", *ids).fetchall())
    owned = [r.id for r in rows if r.user_id == principal.user_id]
    shared: dict[str, list[str]] = {}
    if owned:
        marks = ", ".join("?" * len(owned))
        for collection_id, group_id in db.execute(
                f"SELECT collection_id, group_id FROM collection_groups WHERE collection_id IN ({marks})"
                " ORDER BY group_id", *owned).fetchall():
            shared.setdefault(collection_id, []).append(group_id)
    return [CollectionView(r, r.user_id == principal.user_id, int(counts.get(r.id, 0)), shared.get(r.id, []))
            for r in rows]


# --------------------------------------------------------------------------------- writes
def _check_free(db: Db, principal: Principal, name: str, but: str | None = None) -> None:
    same = db.execute("SELECT id FROM collections WHERE user_id = ? AND name = ?", principal.user_id,
                      name).fetchone()
    if same is not None and same[0] != but:
        raise Conflict("You already have a collection of that name", code="collection_exists")


def create(db: Db, principal: Principal, name: str, description: str | None = None) -> CollectionRow:
    name, description = clean_name(name), clean_description(description)
    db.lock("collections", principal.user_id)  # two creates of one name: the second is a 409, not a 500
    _check_free(db, principal, name)
    if db.execute("SELECT COUNT(*) FROM collections WHERE user_id = ?", principal.user_id).fetchone()[0] \
            >= MAX_COLLECTIONS:
        raise BadRequest(f"At most {MAX_COLLECTIONS} collections per user", code="too_many_collections")
    now = utcnow()
    row = CollectionRow(id=new_id(), user_id=principal.user_id, name=name, description=description,
                        embed_model=None, created_at=now, updated_at=now)
    row.insert(db)
    return row


def update(db: Db, principal: Principal, collection_id: str, *, name: str | None = None,
           description: str | None = None, clear_description: bool = False) -> CollectionRow:
    row = get_owned(db, principal, collection_id)
    if name is not None:
        row.name = clean_name(name)
        db.lock("collections", principal.user_id)
        _check_free(db, principal, row.name, but=row.id)
    if description is not None or clear_description:
        row.description = clean_description(description)
    row.updated_at = utcnow()
    db.execute("UPDATE collections SET name = ?, description = ?, updated_at = ? WHERE id = ?", row.name,
               row.description, row.updated_at, row.id)
    return row


def delete(db: Db, storage: Storage, principal: Principal, collection_id: str) -> int:
    """Deletes the collection and its files (rows, chunks, then stored objects); answers
    how many files went with it."""
    row = get_owned(db, principal, collection_id)
    doomed = files.FileRow.select(db, "WHERE collection_id = ?", row.id)
    files.delete_rows(db, doomed)
    db.execute("DELETE FROM collections WHERE id = ?", row.id)  # its group shares go with it
    db.commit()
    files.drop_objects(storage, doomed)
    return len(doomed)


def share(db: Db, principal: Principal, collection_id: str, group_id: str) -> CollectionRow:
    """Members of the group may read the collection. Its owner shares with groups they
    belong to; an admin owner with any group. Sharing twice changes nothing."""
    row = get_owned(db, principal, collection_id)
    if principal.is_admin:
        known = db.execute("SELECT 1 FROM groups WHERE id = ?", group_id).fetchone()
    else:
        known = db.execute("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?", group_id,
                           principal.user_id).fetchone()
    if known is None:
        raise NotFound("No such group among yours", code="group_not_found")
    db.insert("collection_groups", {"collection_id": row.id, "group_id": group_id},
              "ON CONFLICT (collection_id, group_id) DO NOTHING")
    return row


def unshare(db: Db, principal: Principal, collection_id: str, group_id: str) -> CollectionRow:
    """The group's members no longer read it (nothing changes if it was not shared)."""
    row = get_owned(db, principal, collection_id)
    db.execute("DELETE FROM collection_groups WHERE collection_id = ? AND group_id = ?", row.id, group_id)
    return row

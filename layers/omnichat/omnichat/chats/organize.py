"""A user's folders and tags of chats (docs/frontend.md, "Folders and tags").

A chat is in at most one folder (`chat_folders`); deleting a folder puts its chats back in
none (the rows go with it, ON DELETE CASCADE). Tags are lower-case words of a chat
(`chat_tags`), compared as stored. Every query is scoped to the owner: another user's
folder or chat is not found. Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omnichat.auth.principal import Principal
from omnichat.db.lite import Db, Record, utcnow
from omnichat.errors import BadRequest, Conflict, NotFound
from omnichat.ids import new_id

MAX_FOLDERS = 200
MAX_FOLDER_NAME = 100
MAX_TAGS_PER_CHAT = 20
MAX_TAG = 50
MAX_MOVE = 200


@dataclass
class FolderRow(Record):
    TABLE = "folders"
    TIMESTAMPS = ("created_at",)

    id: str
    user_id: str
    name: str
    created_at: datetime


@dataclass
class Labels:
    """What organizes one chat: its folder (or None) and its tags, sorted."""

    folder_id: str | None
    tags: list[str]


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_FOLDER_NAME:
        raise BadRequest(f"A folder name has 1 to {MAX_FOLDER_NAME} characters", code="invalid_folder_name")
    return name


def clean_tag(tag: str) -> str:
    tag = " ".join(tag.split()).lower()
    if not 1 <= len(tag) <= MAX_TAG:
        raise BadRequest(f"A tag has 1 to {MAX_TAG} characters", code="invalid_tag")
    return tag


def list_folders(db: Db, principal: Principal) -> list[tuple[FolderRow, int]]:
    """The user's folders by name, each with how many chats it holds."""
    folders = FolderRow.select(db, "WHERE user_id = ? ORDER BY lower(name), id", principal.user_id)
    counts = dict(db.execute("SELECT cf.folder_id, COUNT(*) FROM chat_folders cf JOIN folders f ON f.id = cf.folder_id"
                             " WHERE f.user_id = ? GROUP BY cf.folder_id", principal.user_id).fetchall())
    return [(f, int(counts.get(f.id, 0))) for f in folders]


def get_folder(db: Db, principal: Principal, folder_id: str) -> FolderRow:
    folder = FolderRow.first(db, "WHERE id = ? AND user_id = ?", folder_id, principal.user_id)
    if folder is None:
        raise NotFound("No such folder", code="folder_not_found")
    return folder


def folder_by_name(db: Db, principal: Principal, name: str) -> FolderRow | None:
    return FolderRow.first(db, "WHERE user_id = ? AND name = ?", principal.user_id, name)


def _check_free(db: Db, principal: Principal, name: str, other_than: str | None = None) -> None:
    same = folder_by_name(db, principal, name)
    if same is not None and same.id != other_than:
        raise Conflict("You already have a folder of that name", code="folder_exists")


def create_folder(db: Db, principal: Principal, name: str) -> FolderRow:
    name = clean_name(name)
    _check_free(db, principal, name)
    if db.execute("SELECT COUNT(*) FROM folders WHERE user_id = ?", principal.user_id).fetchone()[0] >= MAX_FOLDERS:
        raise BadRequest(f"At most {MAX_FOLDERS} folders per user", code="too_many_folders")
    folder = FolderRow(id=new_id(), user_id=principal.user_id, name=name, created_at=utcnow())
    folder.insert(db)
    return folder


def rename_folder(db: Db, principal: Principal, folder_id: str, name: str) -> FolderRow:
    folder = get_folder(db, principal, folder_id)
    name = clean_name(name)
    _check_free(db, principal, name, other_than=folder.id)
    db.execute("UPDATE folders SET name = ? WHERE id = ?", name, folder.id)
    folder.name = name
    return folder


def delete_folder(db: Db, principal: Principal, folder_id: str) -> None:
    folder = get_folder(db, principal, folder_id)
    db.execute("DELETE FROM chat_folders WHERE folder_id = ?", folder.id)  # the chats: in no folder
    db.execute("DELETE FROM folders WHERE id = ?", folder.id)


def move(db: Db, principal: Principal, chat_ids: list[str], folder_id: str | None) -> int:
    """Put the chats in the folder (None: in no folder). All or nothing: a chat or folder
    that is not the user's is not found, and nothing moves."""
    ids = sorted(set(chat_ids))
    if not 1 <= len(ids) <= MAX_MOVE:
        raise BadRequest(f"Move 1 to {MAX_MOVE} chats at a time", code="invalid_chat_ids")
    if folder_id is not None:
        get_folder(db, principal, folder_id)
    marks = ", ".join("?" * len(ids))
    owned = db.execute(f"SELECT COUNT(*) FROM chats WHERE user_id = ? AND id IN ({marks})",
                       principal.user_id, *ids).fetchone()[0]
    if owned != len(ids):
        raise NotFound("No such chat", code="chat_not_found")
    db.execute(f"DELETE FROM chat_folders WHERE chat_id IN ({marks})", *ids)
    if folder_id is not None:
        db.insert_many("chat_folders", [{"chat_id": i, "folder_id": folder_id} for i in ids])
    return len(ids)


def add_tag(db: Db, chat_id: str, tag: str) -> list[str]:
    """Tag an owned chat (the caller checked); adding a tag it has changes nothing."""
    tag = clean_tag(tag)
    tags = labels_of(db, [chat_id])[chat_id].tags
    if tag not in tags:
        if len(tags) >= MAX_TAGS_PER_CHAT:
            raise BadRequest(f"A chat has at most {MAX_TAGS_PER_CHAT} tags", code="too_many_tags")
        db.insert("chat_tags", {"chat_id": chat_id, "tag": tag}, "ON CONFLICT (chat_id, tag) DO NOTHING")
        tags = sorted([*tags, tag])
    return tags


def remove_tag(db: Db, chat_id: str, tag: str) -> list[str]:
    db.execute("DELETE FROM chat_tags WHERE chat_id = ? AND tag = ?", chat_id, " ".join(tag.split()).lower())
    return labels_of(db, [chat_id])[chat_id].tags


def set_tags(db: Db, chat_id: str, tags: list[str]) -> None:
    """A new chat's tags (an import): cleaned, without duplicates."""
    clean = sorted({clean_tag(t) for t in tags})
    if len(clean) > MAX_TAGS_PER_CHAT:
        raise BadRequest(f"A chat has at most {MAX_TAGS_PER_CHAT} tags", code="too_many_tags")
    db.insert_many("chat_tags", [{"chat_id": chat_id, "tag": t} for t in clean])


def list_tags(db: Db, principal: Principal) -> list[tuple[str, int]]:
    """The user's tags, each with how many chats have it, by name."""
    rows = db.execute("SELECT t.tag, COUNT(*) FROM chat_tags t JOIN chats c ON c.id = t.chat_id WHERE c.user_id = ?"
                      " GROUP BY t.tag ORDER BY t.tag", principal.user_id).fetchall()
    return [(tag, int(count)) for tag, count in rows]


def labels_of(db: Db, chat_ids: list[str]) -> dict[str, Labels]:
    """Each chat's folder and tags: two queries for a page of chats."""
    labels = {i: Labels(None, []) for i in chat_ids}
    if not chat_ids:
        return labels
    marks = ", ".join("?" * len(chat_ids))
    for chat_id, folder_id in db.execute(f"SELECT chat_id, folder_id FROM chat_folders WHERE chat_id IN ({marks})",
                                         *chat_ids).fetchall():
        labels[chat_id].folder_id = folder_id
    for chat_id, tag in db.execute(f"SELECT chat_id, tag FROM chat_tags WHERE chat_id IN ({marks}) ORDER BY tag",
                                   *chat_ids).fetchall():
        labels[chat_id].tags.append(tag)
    return labels


def filter_sql(folder_id: str | None, tag: str | None) -> tuple[list[str], list[object]]:
    """WHERE conditions (on `chats`) for a listing in one folder ("none": in no folder) or
    with one tag."""
    where: list[str] = []
    params: list[object] = []
    if folder_id == "none":
        where.append("NOT EXISTS (SELECT 1 FROM chat_folders cf WHERE cf.chat_id = chats.id)")
    elif folder_id is not None:
        where.append("EXISTS (SELECT 1 FROM chat_folders cf WHERE cf.chat_id = chats.id AND cf.folder_id = ?)")
        params.append(folder_id)
    if tag is not None:
        where.append("EXISTS (SELECT 1 FROM chat_tags t WHERE t.chat_id = chats.id AND t.tag = ?)")
        params.append(" ".join(tag.split()).lower())
    return where, params

"""Chats: create, list (keyset pagination, pinned first, newest first, search), update
and delete. Every query is scoped to the owner: another user's chat is simply not found.
Plain SQL over `omnichat.db.lite` (see chats/rows.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichat.auth.principal import Principal
from omnichat.chats import organize
from omnichat.chats.params import checked as checked_params
from omnichat.chats.rows import ChatRow, get_chat
from omnichat.chats.titles import DEFAULT_TITLE
from omnichat.db.lite import Db, like_escape, utcnow
from omnichat.errors import BadRequest, NotFound
from omnichat.ids import new_id

MAX_TITLE = 300
UPDATABLE = ("title", "pinned", "archived", "model", "system_prompt", "params")


@dataclass
class ChatPage:
    chats: list[ChatRow]
    next_cursor: str | None


def get_owned(db: Db, principal: Principal, chat_id: str) -> ChatRow:
    chat = get_chat(db, chat_id)
    if chat is None or chat.user_id != principal.user_id:
        raise NotFound("No such chat", code="chat_not_found")
    return chat


def clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise BadRequest("A title cannot be empty", code="invalid_title")
    return title[:MAX_TITLE]


def create(db: Db, principal: Principal, *, title: str | None = None, model: str | None = None,
           system_prompt: str | None = None, params: dict[str, Any] | None = None, pinned: bool = False,
           archived: bool = False) -> ChatRow:
    now = utcnow()
    chat = ChatRow(id=new_id(), user_id=principal.user_id, title=clean_title(title) if title else DEFAULT_TITLE,
                   pinned=pinned, archived=archived, model=model, system_prompt=system_prompt,
                   params=checked_params(params) if params is not None else {},
                   current_leaf_id=None, message_count=0, created_at=now, updated_at=now)
    chat.insert(db)
    return chat


def update_chat(db: Db, chat: ChatRow, changes: dict[str, Any]) -> ChatRow:
    """`changes` holds some of UPDATABLE; the title is cleaned, `params` checked
    (`params: null` is `{}`)."""
    if "title" in changes:
        changes = {**changes, "title": clean_title(changes["title"])}
    if "params" in changes:
        params = changes["params"]
        changes = {**changes, "params": checked_params(params) if params is not None else {}}
    # updated_at is the chat's last activity (a message), the order of the chat list:
    # renaming, pinning, archiving or changing its settings keeps the chat in its place.
    values = {field: changes[field] for field in UPDATABLE if field in changes}
    if not values:
        return chat
    db.execute(f"UPDATE chats SET {', '.join(f'{field} = ?' for field in values)} WHERE id = ?",
               *values.values(), chat.id)
    for field, value in values.items():
        setattr(chat, field, value)
    return chat


def delete_chat(db: Db, chat: ChatRow) -> None:
    db.execute("DELETE FROM messages WHERE chat_id = ?", chat.id)
    db.execute("DELETE FROM chats WHERE id = ?", chat.id)


def delete_all(db: Db, principal: Principal) -> int:
    ids = [row[0] for row in db.execute("SELECT id FROM chats WHERE user_id = ?", principal.user_id).fetchall()]
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        marks = ", ".join("?" * len(batch))
        db.execute(f"DELETE FROM messages WHERE chat_id IN ({marks})", *batch)
        db.execute(f"DELETE FROM chats WHERE id IN ({marks})", *batch)
    return len(ids)


def _encode_cursor(chat: ChatRow) -> str:
    raw = json.dumps([chat.pinned, chat.updated_at.isoformat(), chat.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[bool, datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        pinned, updated_at, chat_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(updated_at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has its zone")
        return bool(pinned), moment, str(chat_id)
    except Exception:
        raise BadRequest("The cursor is invalid", code="invalid_cursor") from None


def list_chats(db: Db, principal: Principal, *, limit: int = 30, cursor: str | None = None,
               q: str | None = None, archived: bool = False, folder_id: str | None = None,
               tag: str | None = None) -> ChatPage:
    where, params = ["user_id = ?", "archived = ?"], [principal.user_id, archived]
    labelled, values = organize.filter_sql(folder_id, tag)
    where, params = where + labelled, params + values
    if q:
        pattern = f"%{like_escape(q.strip())}%"
        where.append("(lower(title) LIKE lower(?) ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m"
                     " WHERE m.chat_id = chats.id AND lower(m.content) LIKE lower(?) ESCAPE '\\'))")
        params += [pattern, pattern]
    if cursor:
        pinned, updated_at, chat_id = _decode_cursor(cursor)
        # Keyset: rows strictly after the cursor in (pinned desc, updated_at desc, id desc).
        after = "pinned = ? AND (updated_at < ? OR (updated_at = ? AND id < ?))"
        params += [pinned, updated_at, updated_at, chat_id]
        if pinned:  # then every unpinned chat comes after it too
            after = f"pinned = ? OR ({after})"
            params.insert(len(params) - 4, False)
        where.append(f"({after})")
    chats = ChatRow.select(db, f"WHERE {' AND '.join(where)} ORDER BY pinned DESC, updated_at DESC, id DESC LIMIT ?",
                           *params, limit + 1)
    next_cursor = _encode_cursor(chats[limit - 1]) if len(chats) > limit else None
    return ChatPage(chats[:limit], next_cursor)

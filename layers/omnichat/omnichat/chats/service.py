"""Chats: create, list (keyset pagination, pinned first, newest first, search), update
and delete. Every query is scoped to the owner: another user's chat is simply not found."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, false, or_, select, true
from sqlalchemy.orm import Session

from omnichat.auth.principal import Principal
from omnichat.db.lite import like_escape
from omnichat.db.models import Chat, Message, utcnow
from omnichat.errors import BadRequest, NotFound

MAX_TITLE = 300


@dataclass
class ChatPage:
    chats: list[Chat]
    next_cursor: str | None


def get_owned(db: Session, principal: Principal, chat_id: str) -> Chat:
    chat = db.get(Chat, chat_id)
    if chat is None or chat.user_id != principal.user_id:
        raise NotFound("No such chat", code="chat_not_found")
    return chat


def clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise BadRequest("A title cannot be empty", code="invalid_title")
    return title[:MAX_TITLE]


def create(db: Session, principal: Principal, *, title: str | None = None, model: str | None = None,
           system_prompt: str | None = None, params: dict[str, Any] | None = None) -> Chat:
    chat = Chat(user_id=principal.user_id, title=clean_title(title) if title else "New chat",
                model=model, system_prompt=system_prompt, params=params or {})
    db.add(chat)
    db.flush()
    return chat


def update_chat(db: Session, chat: Chat, changes: dict[str, Any]) -> Chat:
    if "title" in changes:
        chat.title = clean_title(changes["title"])
    for field in ("pinned", "archived", "model", "system_prompt", "params"):
        if field in changes:
            setattr(chat, field, changes[field] if field != "params" else (changes[field] or {}))
    chat.updated_at = utcnow()
    return chat


def delete_chat(db: Session, chat: Chat) -> None:
    db.execute(delete(Message).where(Message.chat_id == chat.id))
    db.delete(chat)


def delete_all(db: Session, principal: Principal) -> int:
    ids = list(db.scalars(select(Chat.id).where(Chat.user_id == principal.user_id)))
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        db.execute(delete(Message).where(Message.chat_id.in_(batch)))
        db.execute(delete(Chat).where(Chat.id.in_(batch)))
    return len(ids)


def _encode_cursor(chat: Chat) -> str:
    raw = json.dumps([chat.pinned, chat.updated_at.isoformat(), chat.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[bool, datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        pinned, updated_at, chat_id = json.loads(base64.urlsafe_b64decode(padded))
        return bool(pinned), datetime.fromisoformat(updated_at), str(chat_id)
    except Exception:
        raise BadRequest("The cursor is invalid", code="invalid_cursor") from None


def _like(text: str) -> str:
    return f"%{like_escape(text)}%"


def list_chats(db: Session, principal: Principal, *, limit: int = 30, cursor: str | None = None,
               q: str | None = None, archived: bool = False) -> ChatPage:
    query = select(Chat).where(Chat.user_id == principal.user_id, Chat.archived == archived)
    if q:
        pattern = _like(q.strip())
        in_messages = select(Message.id).where(
            Message.chat_id == Chat.id, Message.content.ilike(pattern, escape="\\")
        ).exists()
        query = query.where(or_(Chat.title.ilike(pattern, escape="\\"), in_messages))
    if cursor:
        pinned, updated_at, chat_id = _decode_cursor(cursor)
        # Keyset: rows strictly after the cursor in (pinned desc, updated_at desc, id desc).
        pinned_lit = true() if pinned else false()
        query = query.where(or_(
            and_(Chat.pinned == false(), pinned_lit),
            and_(Chat.pinned == pinned_lit, Chat.updated_at < updated_at),
            and_(Chat.pinned == pinned_lit, Chat.updated_at == updated_at, Chat.id < chat_id),
        ))
    query = query.order_by(Chat.pinned.desc(), Chat.updated_at.desc(), Chat.id.desc()).limit(limit + 1)
    chats = list(db.scalars(query))
    next_cursor = _encode_cursor(chats[limit - 1]) if len(chats) > limit else None
    return ChatPage(chats[:limit], next_cursor)

"""Chats and messages as the chat path reads them: plain rows over `omnichat.db.lite`
(the tables are models.py's). ws_chat answers a message without loading SQLAlchemy, and
the REST API reads the same rows inside its unit of work (`Db.of_session`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichat.db.lite import Db, Record


@dataclass
class ChatRow(Record):
    TABLE = "chats"
    JSON = ("params",)
    FLAGS = ("pinned", "archived")

    id: str
    user_id: str
    title: str
    pinned: bool
    archived: bool
    model: str | None
    system_prompt: str | None
    params: dict[str, Any]
    current_leaf_id: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime


@dataclass
class MessageRow(Record):
    TABLE = "messages"
    JSON = ("error", "usage")

    id: str
    chat_id: str
    parent_id: str | None
    depth: int
    role: str
    content: str
    reasoning: str | None
    model: str | None
    status: str
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    client_message_id: str | None
    created_at: datetime
    updated_at: datetime


def get_chat(db: Db, chat_id: str) -> ChatRow | None:
    return ChatRow.first(db, "WHERE id = ?", chat_id)


def get_message(db: Db, message_id: str) -> MessageRow | None:
    return MessageRow.first(db, "WHERE id = ?", message_id)

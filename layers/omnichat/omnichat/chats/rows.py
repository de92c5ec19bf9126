"""Chats and messages as the chat path reads and writes them: plain rows over `omnichat.db.lite`
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


def latest_answer(db: Db, question_id: str) -> MessageRow | None:
    """The newest assistant reply to a message (regenerating adds siblings)."""
    return MessageRow.first(db, "WHERE parent_id = ? AND role = 'assistant' ORDER BY id DESC LIMIT 1", question_id)


def set_model(db: Db, chat_id: str, model_id: str) -> None:
    """The model the chat goes on with (its `updated_at` is the answer's to move)."""
    db.execute("UPDATE chats SET model = ? WHERE id = ?", model_id, chat_id)


def set_title(db: Db, chat_id: str, title: str) -> None:
    """A title the chat was given, not by its user: the listing's order stays."""
    db.execute("UPDATE chats SET title = ? WHERE id = ?", title, chat_id)

"""Exactly once: the idempotency of sent messages, and messages sent in parts.

The unit of idempotency is (user, `client_message_id`), across chats. A send is accepted
by inserting its `sends` row in the same transaction that saves the user message and
starts its one answer; every later send with the same key — a retry on another
connection, a duplicate racing the first, a part that arrives after the whole — finds
that row and is given the first send's chat, message and answer. The primary key makes
a second acceptance impossible; `Db.lock` on the same key makes the racers wait for the
winner instead of failing (tests/ws/test_exactly_once.py).

Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from omnichat.db.lite import Db, Record, utcnow

PARTS_TTL = timedelta(minutes=10)  # parts of a message that never completes are dropped


@dataclass
class SendRow(Record):
    TABLE = "sends"
    TIMESTAMPS = ("created_at",)

    user_id: str
    client_message_id: str
    chat_id: str
    message_id: str  # the user message
    created_at: datetime


def lock(db: Db, user_id: str, client_message_id: str) -> None:
    """Serialize every transaction about this key until the current one ends."""
    db.lock("send", user_id, client_message_id)


def find(db: Db, user_id: str, client_message_id: str) -> SendRow | None:
    return SendRow.first(db, "WHERE user_id = ? AND client_message_id = ?", user_id, client_message_id)


def claim(db: Db, user_id: str, client_message_id: str, chat_id: str, message_id: str) -> bool:
    """Accept a send: False if the key was accepted already (by a transaction that did
    not wait for `lock`)."""
    row = SendRow(user_id, client_message_id, chat_id, message_id, utcnow())
    inserted: int = row.insert(db, "ON CONFLICT (user_id, client_message_id) DO NOTHING").rowcount
    return inserted == 1


# ---- parts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Whole:
    content: str
    fields: dict[str, Any]  # the last part's other fields


class BadParts(ValueError):
    """The parts cannot make a message: their counts differ, or they are too long."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def add_part(db: Db, user_id: str, client_message_id: str, index: int, count: int, content: str,
             fields: dict[str, Any] | None, max_chars: int) -> Whole | None:
    """Keep one part (a duplicate is ignored); the whole message once every part is here,
    in whatever order they came. The parts stay until the caller's transaction commits, so
    a message that fails to be accepted can still be completed by a corrected retry.
    `fields` are stored for the last part (index == count - 1) only."""
    db.execute("DELETE FROM upload_parts WHERE created_at < ?", utcnow() - PARTS_TTL)
    db.insert("upload_parts", {"user_id": user_id, "client_message_id": client_message_id, "part_index": index,
                               "part_count": count, "content": content,
                               "fields": fields if index == count - 1 else None, "created_at": utcnow()},
              "ON CONFLICT (user_id, client_message_id, part_index) DO NOTHING")
    parts = db.execute("SELECT part_index, part_count, content, fields FROM upload_parts"
                       " WHERE user_id = ? AND client_message_id = ? ORDER BY part_index",
                       user_id, client_message_id).fetchall()
    if any(part_count != count for _, part_count, _, _ in parts):
        raise BadParts("invalid_request", "part.count differs between the parts of one message")
    if sum(len(text) for _, _, text, _ in parts) > max_chars:
        raise BadParts("message_too_long", f"A message has at most {max_chars} characters")
    if len(parts) < count:
        return None
    db.execute("DELETE FROM upload_parts WHERE user_id = ? AND client_message_id = ?", user_id, client_message_id)
    return Whole("".join(content for _, _, content, _ in parts), Db.json_value(parts[-1][3]) or {})

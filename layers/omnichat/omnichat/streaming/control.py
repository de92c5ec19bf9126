"""The database side of a live generation. Each function is one short transaction: the
generator runs for minutes and must never hold a connection or a lock while it waits on
the model. Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from omnichat.auth import standing
from omnichat.db import lite
from omnichat.db.lite import Db, utcnow
from omnichat.usage import CallRecord, record

# A stream whose generator has not saved progress for this long is taken as dead (its
# Lambda crashed or timed out); progress is saved at least every 2 s while alive.
STALE_AFTER = timedelta(seconds=20)
SUBSCRIBE = "ON CONFLICT (message_id, connection_id) DO NOTHING"


@dataclass(frozen=True)
class Control:
    stop_requested: bool
    subscribers: frozenset[str]


def begin(db: Db, *, chat_id: str, user_id: str, message_id: str, connection_id: str | None) -> None:
    now = utcnow()
    db.insert("streams", {"message_id": message_id, "chat_id": chat_id, "user_id": user_id, "stop_requested": False,
                          "started_at": now, "heartbeat_at": now})
    if connection_id:
        subscribe(db, message_id, connection_id)


def live_stream(db: Db, chat_id: str) -> str | None:
    """The id of the message the chat is streaming, if its generator is alive; a dead one
    is closed as an interrupted answer (its text so far is kept)."""
    row = db.execute("SELECT message_id, heartbeat_at FROM streams WHERE chat_id = ?", chat_id).fetchone()
    if row is None:
        return None
    message_id: str = row[0]
    heartbeat_at = Db.timestamp(row[1])
    if heartbeat_at is not None and utcnow() - heartbeat_at <= STALE_AFTER:
        return message_id
    close_dead(db, message_id)
    return None


def close_dead(db: Db, message_id: str) -> None:
    db.execute("UPDATE messages SET status = 'error', error = ?, updated_at = ? WHERE id = ? AND status = 'streaming'",
               {"code": "interrupted", "message": "The answer was interrupted"}, utcnow(), message_id)
    _drop(db, message_id)


def _drop(db: Db, message_id: str) -> None:
    db.execute("DELETE FROM stream_subscribers WHERE message_id = ?", message_id)
    db.execute("DELETE FROM streams WHERE message_id = ?", message_id)


def poll(url: str, message_id: str) -> Control:
    def work(db: Db) -> Control:
        stop = db.execute("SELECT stop_requested FROM streams WHERE message_id = ?", message_id).fetchone()
        return Control(bool(stop and stop[0]), standing.live_subscribers(db, message_id))  # not revoked ones

    return lite.run(url, work)


def save_progress(url: str, message_id: str, content: str, reasoning: str) -> None:
    def work(db: Db) -> None:
        now = utcnow()
        db.execute("UPDATE messages SET content = ?, reasoning = ?, updated_at = ? WHERE id = ?",
                   content, reasoning or None, now, message_id)
        db.execute("UPDATE streams SET heartbeat_at = ? WHERE message_id = ?", now, message_id)

    lite.run(url, work)


def finish(url: str, message_id: str, *, status: str, content: str, reasoning: str, usage: dict[str, Any],
           error: dict[str, Any] | None, call: CallRecord, model: str | None = None) -> frozenset[str]:
    """The answer's final state, its usage row and the end of the stream: all or nothing.
    `model` is the model that answered (a fallback's, when one took over). Returns the
    stream's subscribers at its end: every connection that `join`ed before it (a later
    one finds the answer ended)."""
    def work(db: Db) -> frozenset[str]:
        db.lock("stream", message_id)
        db.execute("UPDATE messages SET status = ?, content = ?, reasoning = ?, usage = ?, error = ?, updated_at = ?,"
                   " model = COALESCE(?, model) WHERE id = ?", status, content, reasoning or None, usage, error,
                   utcnow(), model, message_id)
        record(db, call)
        subscribers = standing.live_subscribers(db, message_id)  # not revoked ones
        _drop(db, message_id)
        return subscribers

    return lite.run(url, work)


def join(db: Db, chat_id: str, message_id: str, connection_id: str) -> bool:
    """Subscribe a connection to a live stream; False if the message is not streaming
    (any more). Either the generator's `finish` sees the new subscriber, or the caller
    sees the stream ended: never neither."""
    db.lock("stream", message_id)
    if live_stream(db, chat_id) != message_id:
        return False
    subscribe(db, message_id, connection_id)
    return True


def request_stop(db: Db, message_id: str) -> bool:
    updated: int = db.execute("UPDATE streams SET stop_requested = ? WHERE message_id = ?", True, message_id).rowcount
    return updated == 1


def subscribe(db: Db, message_id: str, connection_id: str) -> None:
    db.insert("stream_subscribers", {"message_id": message_id, "connection_id": connection_id,
                                     "created_at": utcnow()}, SUBSCRIBE)


def unsubscribe(url: str, message_id: str, connection_id: str) -> None:
    lite.run(url, lambda db: db.execute("DELETE FROM stream_subscribers WHERE message_id = ? AND connection_id = ?",
                                        message_id, connection_id))

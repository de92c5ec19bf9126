"""The database side of a live generation. Each function is one short transaction: the
generator runs for minutes and must never hold a connection or a lock while it waits on
the model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from omnichat.db.engine import session_scope
from omnichat.db.lite import Db
from omnichat.db.models import Message, Stream, StreamSubscriber, utcnow
from omnichat.usage import CallRecord, record

# A stream whose generator has not saved progress for this long is taken as dead (its
# Lambda crashed or timed out); progress is saved at least every 2 s while alive.
STALE_AFTER = timedelta(seconds=20)


@dataclass(frozen=True)
class Control:
    stop_requested: bool
    subscribers: frozenset[str]


def begin(db: Session, *, chat_id: str, user_id: str, message_id: str, connection_id: str | None) -> None:
    db.add(Stream(message_id=message_id, chat_id=chat_id, user_id=user_id))
    if connection_id:
        db.add(StreamSubscriber(message_id=message_id, connection_id=connection_id))


def live_stream(db: Session, chat_id: str) -> Stream | None:
    """The chat's stream in progress, if its generator is alive; a dead one is closed as an
    interrupted answer (its text so far is kept)."""
    stream = db.scalar(select(Stream).where(Stream.chat_id == chat_id))
    if stream is None:
        return None
    if utcnow() - stream.heartbeat_at <= STALE_AFTER:
        return stream
    close_dead(db, stream)
    return None


def close_dead(db: Session, stream: Stream) -> None:
    db.execute(update(Message).where(Message.id == stream.message_id, Message.status == "streaming").values(
        status="error", error={"code": "interrupted", "message": "The answer was interrupted"}, updated_at=utcnow()))
    _drop(db, stream.message_id)


def _drop(db: Session, message_id: str) -> None:
    db.execute(delete(StreamSubscriber).where(StreamSubscriber.message_id == message_id))
    db.execute(delete(Stream).where(Stream.message_id == message_id))


def poll(url: str, message_id: str) -> Control:
    with session_scope(url) as db:
        stop = db.scalar(select(Stream.stop_requested).where(Stream.message_id == message_id))
        subs = db.scalars(select(StreamSubscriber.connection_id).where(StreamSubscriber.message_id == message_id))
        return Control(bool(stop), frozenset(subs))


def save_progress(url: str, message_id: str, content: str, reasoning: str) -> None:
    now = utcnow()
    with session_scope(url) as db:
        db.execute(update(Message).where(Message.id == message_id).values(
            content=content, reasoning=reasoning or None, updated_at=now))
        db.execute(update(Stream).where(Stream.message_id == message_id).values(heartbeat_at=now))


def finish(url: str, message_id: str, *, status: str, content: str, reasoning: str, usage: dict[str, Any],
           error: dict[str, Any] | None, call: CallRecord) -> None:
    """The answer's final state, its usage row and the end of the stream: all or nothing."""
    with session_scope(url) as db:
        db.execute(update(Message).where(Message.id == message_id).values(
            status=status, content=content, reasoning=reasoning or None, usage=usage, error=error,
            updated_at=utcnow()))
        record(Db.of_session(db), call)
        _drop(db, message_id)


def request_stop(db: Session, message_id: str) -> bool:
    result = db.execute(update(Stream).where(Stream.message_id == message_id).values(stop_requested=True))
    return result.rowcount == 1


def subscribe(db: Session, message_id: str, connection_id: str) -> None:
    exists = db.get(StreamSubscriber, (message_id, connection_id))
    if exists is None:
        db.add(StreamSubscriber(message_id=message_id, connection_id=connection_id))


def unsubscribe(url: str, message_id: str, connection_id: str) -> None:
    with session_scope(url) as db:
        db.execute(delete(StreamSubscriber).where(StreamSubscriber.message_id == message_id,
                                                  StreamSubscriber.connection_id == connection_id))


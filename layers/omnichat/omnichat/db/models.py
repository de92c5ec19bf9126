"""The schema, as SQLAlchemy 2 models. Every change here needs an Alembic migration in
migrations/versions (tests/test_migrations.py fails when the two drift apart). The
application reads and writes these tables with plain SQL (omnichat.db.lite); the models
serve the migrations and the tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from omnichat.catalog.pulls import ACTIVE_SQL
from omnichat.chats.titles import DEFAULT_TITLE
from omnichat.db.lite import utcnow
from omnichat.db.types import UTCDateTime, utc_now
from omnichat.ids import new_id

__all__ = ["utcnow"]  # re-exported: models and their callers share one clock


# Deterministic constraint names keep migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


def _id_column() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


def _default(value: object, *args: Any, **kwargs: Any) -> Any:
    """A column whose default is `value`, written once: the ORM inserts it, and the
    database has it too (migration 0006) for plain INSERTs that leave the column out."""
    if isinstance(value, bool):
        server: Any = true() if value else false()
    elif isinstance(value, int):
        server = text(str(value))
    elif value == {}:
        server, value = text("'{}'"), dict
    else:
        server = value
    return mapped_column(*args, default=value, server_default=server, **kwargs)


def _now(**kwargs: Any) -> Any:
    """A timestamp that defaults to now: the code's clock for ORM inserts, the database's
    for plain INSERTs that leave it out."""
    return mapped_column(default=utcnow, server_default=utc_now(), **kwargs)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = _id_column()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = _default("", String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | user | pending
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)


class AuthSession(Base):
    """One signed-in session; an access token is valid only while its session row exists,
    so sign-out, password change and user deletion take effect at once."""

    __tablename__ = "sessions"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to recognise a key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WsTicket(Base):
    __tablename__ = "ws_tickets"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The credential that obtained the ticket (one of the two), which the connection rides
    # on. No foreign keys: an ended session must leave the ids behind to be found refused.
    session_id: Mapped[str | None] = mapped_column(String(36))
    api_key_id: Mapped[str | None] = mapped_column(String(36))


class Connection(Base):
    """A live API Gateway WebSocket connection."""

    __tablename__ = "connections"
    connection_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = _default("", String(512))
    connected_at: Mapped[datetime] = _now()
    session_id: Mapped[str | None] = mapped_column(String(36))  # as on its ticket
    api_key_id: Mapped[str | None] = mapped_column(String(36))


class SignInFailure(Base):
    """A failed sign-in, counted per account and per address for throttling."""

    __tablename__ = "signin_failures"
    id: Mapped[str] = _id_column()
    scope: Mapped[str] = mapped_column(String(400))  # "email:<addr>" or "ip:<addr>"
    created_at: Mapped[datetime] = _now()
    __table_args__ = (Index("ix_signin_failures_scope_created_at", "scope", "created_at"),)


class Chat(Base):
    __tablename__ = "chats"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = _default(DEFAULT_TITLE, String(300))
    pinned: Mapped[bool] = _default(False, Boolean)
    archived: Mapped[bool] = _default(False, Boolean)
    model: Mapped[str | None] = mapped_column(String(300))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = _default({})
    # The leaf of the branch the user is looking at; no FK so that deleting a chat's
    # messages and the chat needs no ordering dance (integrity is kept by the service).
    current_leaf_id: Mapped[str | None] = mapped_column(String(36))
    message_count: Mapped[int] = _default(0, Integer)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (
        Index("ix_chats_user_id_listing", "user_id", "archived", "pinned", "updated_at", "id"),
    )


class Message(Base):
    """One node of a chat's message tree. Siblings share a parent; `depth` is the position
    on its branch (root = 0), which makes paging a branch a bounded walk."""

    __tablename__ = "messages"
    id: Mapped[str] = _id_column()
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    depth: Mapped[int] = _default(0, Integer)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | system
    content: Mapped[str] = _default("", Text)
    reasoning: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(300))
    # complete | streaming | stopped | error
    status: Mapped[str] = _default("complete", String(16))
    error: Mapped[dict[str, Any] | None] = mapped_column()
    usage: Mapped[dict[str, Any] | None] = mapped_column()
    # The client's own id for a sent message: retrying a send never duplicates it.
    client_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("chat_id", "client_message_id"),
        Index("ix_messages_chat_id_parent_id", "chat_id", "parent_id"),
    )


class Send(Base):
    """The idempotency key of a sent message: one row per (user, client_message_id),
    across chats. Inserting it is what accepts a send; a retry, concurrent or late, finds
    the row and gets the first send's chat, message and answer, never a second model call."""

    __tablename__ = "sends"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    client_message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(String(36))  # the user message
    created_at: Mapped[datetime] = _now()


class UsageRecord(Base):
    """One row per model call: the request log behind the admin's usage view."""

    __tablename__ = "usage"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    chat_id: Mapped[str | None] = mapped_column(String(36))
    message_id: Mapped[str | None] = mapped_column(String(36))
    source: Mapped[str] = _default("chat", String(16))  # chat | gateway | title
    model: Mapped[str] = mapped_column(String(300))
    provider: Mapped[str] = mapped_column(String(16))
    input_tokens: Mapped[int] = _default(0, Integer)
    output_tokens: Mapped[int] = _default(0, Integer)
    cache_read_tokens: Mapped[int] = _default(0, Integer)
    cache_write_tokens: Mapped[int] = _default(0, Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = _default(0, Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # complete | stopped | error
    error_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    __table_args__ = (Index("ix_usage_created_at", "created_at"), Index("ix_usage_user_id", "user_id"))


class Setting(Base):
    """Platform settings an admin can change (signup policy, per-model settings)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)


class Stream(Base):
    """A generation in progress. Lambdas that handle `chat.stop` or `chat.resume` are not
    the one generating, so they talk to it through this row (stop flag) and through
    `stream_subscribers`; the generator polls both. Deleted when the answer ends."""

    __tablename__ = "streams"
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    stop_requested: Mapped[bool] = _default(False, Boolean)
    started_at: Mapped[datetime] = _now()
    # Refreshed whenever the generator saves progress: a stale heartbeat means it died.
    heartbeat_at: Mapped[datetime] = _now()


class StreamSubscriber(Base):
    """A connection that receives a stream's deltas (the sender, then any that resumed)."""

    __tablename__ = "stream_subscribers"
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connection_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = _now()


class UploadPart(Base):
    """One part of a WebSocket message too large for a single 32 KB frame."""

    __tablename__ = "upload_parts"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    client_message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    part_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    part_count: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    # The message's other fields (chat_id, model, params …), kept from the last part
    # (index == count - 1), whichever order the parts arrive in.
    fields: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = _now()


class ModelPull(Base):
    """A model pull run by the worker beside Ollama (ollama_service/omnichat_pull), which
    writes its progress here: pulls can outlast any Lambda. At most one active pull per
    model (a partial unique index)."""

    __tablename__ = "model_pulls"
    id: Mapped[str] = _id_column()
    model: Mapped[str] = mapped_column(String(300))
    # queued | running | success | error | cancelled
    status: Mapped[str] = _default("queued", String(16))
    status_text: Mapped[str] = _default("", String(300))
    digest: Mapped[str | None] = mapped_column(String(100))
    completed: Mapped[int] = _default(0, BigInteger)
    total: Mapped[int] = _default(0, BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    __table_args__ = (
        Index("ix_model_pulls_status_created_at", "status", "created_at"),
        Index("uq_model_pulls_active_model", "model", unique=True,
              sqlite_where=text(ACTIVE_SQL), postgresql_where=text(ACTIVE_SQL)),
    )

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
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from omnichat.catalog.presets import GLOBAL_SQL
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
    cost_micros: Mapped[int] = _default(0, BigInteger)  # USD / 1e6, at the prices of the call's time
    created_at: Mapped[datetime] = _now()
    __table_args__ = (Index("ix_usage_created_at", "created_at"), Index("ix_usage_user_id", "user_id"),
                      Index("ix_usage_user_id_created_at", "user_id", "created_at"),
                      Index("ix_usage_api_key_id_created_at", "api_key_id", "created_at"))


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


class Preset(Base):
    """A custom model (`preset/<slug>`): a base model with a system prompt, default
    parameters and a fallback chain (catalog/presets.py). No owner: an admin's, for those
    its visibility names; an owner: that user's own. Slugs are unique among global
    presets (a partial unique index) and per owner."""

    __tablename__ = "presets"
    id: Mapped[str] = _id_column()
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = _default("", Text)
    base_model: Mapped[str] = mapped_column(String(300))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = _default({})
    fallbacks: Mapped[str] = _default("", Text)  # model ids, one per line, tried in order
    visibility: Mapped[str] = mapped_column(String(16))  # everyone | admins | users | private
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)
    __table_args__ = (
        UniqueConstraint("owner_id", "slug"),
        Index("uq_presets_global_slug", "slug", unique=True,
              sqlite_where=text(GLOBAL_SQL), postgresql_where=text(GLOBAL_SQL)),
    )


class PresetUser(Base):
    """A user a global preset with visibility 'users' is shown to."""

    __tablename__ = "preset_users"
    preset_id: Mapped[str] = mapped_column(ForeignKey("presets.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class Group(Base):
    """A group of users (auth/groups.py): `local` ones an admin manages, `idp` ones whose
    members the identity provider's group claim sets at each single sign-on
    (`external_id`: the claim's value)."""

    __tablename__ = "groups"
    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = _default("local", String(16))  # local | idp
    external_id: Mapped[str | None] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = _now()


class PresetGroup(Base):
    """A group a global preset with visibility 'groups' is shown to."""

    __tablename__ = "preset_groups"
    preset_id: Mapped[str] = mapped_column(ForeignKey("presets.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class SsoIdentity(Base):
    """A user's identity at an OpenID Connect issuer (auth/sso_users.py)."""

    __tablename__ = "sso_identities"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now()
    last_sign_in_at: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("issuer", "subject"),)


class SsoState(Base):
    """A single sign-on in progress (kind `state`: found by the hash of the `state`
    parameter) or its one-time handoff code (kind `handoff`); short-lived, single use."""

    __tablename__ = "sso_states"
    id: Mapped[str] = _id_column()
    kind: Mapped[str] = mapped_column(String(16))  # state | handoff
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    nonce: Mapped[str | None] = mapped_column(String(128))
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    redirect_uri: Mapped[str | None] = mapped_column(String(1000))
    return_to: Mapped[str | None] = mapped_column(String(1000))
    user_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OllamaLease(Base):
    """A request in flight on one Ollama node (providers/ollama_leases.py): counted by the
    router to choose the least busy node, deleted when the request ends, ignored once
    expired (a process that died mid-request never releases its lease)."""

    __tablename__ = "ollama_leases"
    id: Mapped[str] = _id_column()
    node: Mapped[str] = mapped_column(String(300))
    model: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    __table_args__ = (Index("ix_ollama_leases_expires_at", "expires_at"),)


def _price() -> Any:
    return mapped_column(Float, default=0.0, server_default=text("0"))


class ModelPrice(Base):
    """What a model's calls cost (billing/prices.py): USD per million tokens of each kind,
    or per GPU-hour of the call's duration (Ollama) when `gpu_hour` is set."""

    __tablename__ = "model_prices"
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    input_per_mtok: Mapped[float] = _price()
    output_per_mtok: Mapped[float] = _price()
    cache_read_per_mtok: Mapped[float] = _price()
    cache_write_per_mtok: Mapped[float] = _price()
    gpu_hour: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)


class Budget(Base):
    """Limits for one user, group or API key (billing/budgets.py); a null limit is none."""

    __tablename__ = "budgets"
    id: Mapped[str] = _id_column()
    scope: Mapped[str] = mapped_column(String(8))  # user | group | key
    subject_id: Mapped[str] = mapped_column(String(36))
    tokens_per_day: Mapped[int | None] = mapped_column(BigInteger)
    tokens_per_month: Mapped[int | None] = mapped_column(BigInteger)
    usd_per_day: Mapped[float | None] = mapped_column(Float)
    usd_per_month: Mapped[float | None] = mapped_column(Float)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    concurrent_streams: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)
    __table_args__ = (UniqueConstraint("scope", "subject_id"),)


class UsageTotal(Base):
    """Calls, tokens and cost of one user's or key's calls on one UTC day (billing/totals.py),
    added to with each usage row: what budget checks add up instead of the rows."""

    __tablename__ = "usage_totals"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # user | key
    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    calls: Mapped[int] = _default(0, BigInteger)
    tokens: Mapped[int] = _default(0, BigInteger)
    cost_micros: Mapped[int] = _default(0, BigInteger)


class BudgetReservation(Base):
    """A model call in flight and what it may cost (billing/reservations.py): counted
    against its user's, groups' and key's budgets until its usage row is written; ignored
    once expired (a process that died mid-call never settles)."""

    __tablename__ = "budget_reservations"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    model: Mapped[str] = mapped_column(String(300))
    tokens: Mapped[int] = mapped_column(BigInteger)
    cost_micros: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    __table_args__ = (Index("ix_budget_reservations_expires_at", "expires_at"),)


class AuditEntry(Base):
    """One entry of the audit log (omnichat/audit.py): who did what, when, from where.
    No foreign keys: an entry outlives the account and the object it names."""

    __tablename__ = "audit"
    id: Mapped[str] = _id_column()
    at: Mapped[datetime] = _now()
    actor_id: Mapped[str | None] = mapped_column(String(36))  # null: nobody signed in (a failed sign-in)
    actor_label: Mapped[str] = _default("", String(320))  # the actor's email at the time
    action: Mapped[str] = mapped_column(String(64))  # auth.sign_in, user.role_changed, key.created ...
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(320))
    details: Mapped[dict[str, Any]] = _default({})  # what changed: non-secret fields before and after
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    __table_args__ = (Index("ix_audit_at_id", "at", "id"), Index("ix_audit_actor_id_at", "actor_id", "at"))


class ChatShare(Base):
    """A read-only link to a snapshot of a chat's current branch (chats/shares.py), found
    by the SHA-256 of its token; deleted with its chat or its owner."""

    __tablename__ = "chat_shares"
    id: Mapped[str] = _id_column()
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to recognise a link
    title: Mapped[str] = mapped_column(String(300))
    message_count: Mapped[int]
    snapshot: Mapped[dict[str, Any]]  # {"messages": [{role, content, model, created_at}]}
    created_at: Mapped[datetime] = _now()


class Folder(Base):
    """A user's folder of chats (chats/organize.py)."""

    __tablename__ = "folders"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()
    __table_args__ = (UniqueConstraint("user_id", "name"),)


class ChatFolder(Base):
    """The folder a chat is in; deleting the folder deletes the row (the chat is in none)."""

    __tablename__ = "chat_folders"
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    folder_id: Mapped[str] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"), index=True)


class ChatTag(Base):
    """One tag of a chat (lower-case)."""

    __tablename__ = "chat_tags"
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class Collection(Base):
    """A knowledge collection: files a user gathers to ask about (documents/collections.py),
    shared read-only with groups through collection_groups. `embed_model` is the model its
    vectors were made with: a change of model re-indexes instead of mixing vectors."""

    __tablename__ = "collections"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    embed_model: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)
    __table_args__ = (UniqueConstraint("user_id", "name"),)


class CollectionGroup(Base):
    """A group whose members may read (search, cite) a collection."""

    __tablename__ = "collection_groups"
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class File(Base):
    """An uploaded file (documents/files.py): a chat attachment (`collection_id` NULL) or a
    file of a collection. `status`: uploading | queued | indexing | ready | failed (with
    `error`); `kind`: document | image (images are not indexed, they go to vision models).
    `content_type` is sniffed from the bytes, never taken from the client."""

    __tablename__ = "files"
    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    collection_id: Mapped[str | None] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = _default("document", String(16))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = _default(0, BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = _default("uploading", String(16))
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = _default(0, Integer)  # percent while indexing
    pages: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int] = _default(0, Integer)
    embed_model: Mapped[str | None] = mapped_column(String(300))
    upload_expires_at: Mapped[datetime | None] = mapped_column()  # a presigned upload not completed by then fails
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now(onupdate=utcnow)
    __table_args__ = (Index("ix_files_user_id_created_at", "user_id", "created_at"),)


class MessageFile(Base):
    """A file attached to a user message: always in scope when that message is answered."""

    __tablename__ = "message_files"
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), primary_key=True, index=True)
    position: Mapped[int] = _default(0, Integer)


class MessageCollection(Base):
    """A collection selected for a user message (`#` in the composer, or its preset's)."""

    __tablename__ = "message_collections"
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True,
                                               index=True)


class PresetCollection(Base):
    """A collection a preset (`preset/<slug>`) searches: in scope for its users who may read it."""

    __tablename__ = "preset_collections"
    preset_id: Mapped[str] = mapped_column(ForeignKey("presets.id", ondelete="CASCADE"), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True,
                                               index=True)


class Chunk(Base):
    """A passage of an indexed file, with where it came from (page, section) for citations
    and its embedding (float32 little-endian, documents/store.py)."""

    __tablename__ = "chunks"
    id: Mapped[str] = _id_column()
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[str | None] = mapped_column(String(500))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    __table_args__ = (UniqueConstraint("file_id", "ordinal"),)


class MessageSource(Base):
    """A source cited by an answer: `[n]` in its text is `position` n here."""

    __tablename__ = "message_sources"
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    chunk_id: Mapped[str | None] = mapped_column(String(36))  # no FK: a re-index replaces chunks
    file_name: Mapped[str] = mapped_column(String(255))
    page: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[str | None] = mapped_column(String(500))
    excerpt: Mapped[str] = mapped_column(Text)

"""Request and response bodies of the REST API. Requests forbid unknown fields, so a typo
in a field name is an error rather than a silently ignored change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from omnichat.auth.api_keys import ApiKeyRow
from omnichat.auth.users import UserRow
from omnichat.chats import params as chat_params
from omnichat.chats.rows import ChatRow, MessageRow


class Strict(BaseModel):
    # strict: JSON's types as they are (`"true"` or `1` is not a boolean), as the schema says.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def not_null(**constraints: Any) -> Any:
    """A field of a partial update: left out, it is unchanged; `null` is refused (a 422),
    as it has no meaning. Pydantic does not validate the unused default."""
    return Field(default=None, json_schema_extra=_no_default, **constraints)


# Checked in the core (chats/params.py, a 400 `invalid_params`); described from the same rules.
ChatParams = Annotated[dict[str, Any], WithJsonSchema(chat_params.JSON_SCHEMA)]


# ---- auth ------------------------------------------------------------------------------
class SignUpIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    name: str = Field(default="", max_length=200)


class SignUpOut(BaseModel):
    """A sign-up's answer, the same whether the email was new or already registered."""

    status: Literal["accepted"] = "accepted"
    message: str = ("If this email had no account, it has one now: sign in with this password. "
                    "If it had one, nothing changed: sign in with that account's password.")


class SignInIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class PasswordChangeIn(Strict):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: str
    created_at: datetime

    @classmethod
    def of(cls, user: UserRow) -> UserOut:
        return cls(id=user.id, email=user.email, name=user.name, role=user.role, created_at=user.created_at)


class SessionOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut


class SignUpOptionsOut(BaseModel):
    """What the sign-in and sign-up pages need before anyone signs in: whether a new
    account can be made (`signup`: the policy a sign-up now meets; a server with no account
    yet is "open", its first account becomes the administrator) and whether the server
    has an administrator yet (a yes or no, nothing more)."""

    signup: Literal["open", "approval", "closed"]
    has_admin: bool


class TicketOut(BaseModel):
    ticket: str
    expires_in: int


# ---- API keys --------------------------------------------------------------------------
class ApiKeyIn(Strict):
    name: str = Field(max_length=100)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKeyRow) -> ApiKeyOut:
        return cls(id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at,
                   last_used_at=key.last_used_at)


class ApiKeyCreated(ApiKeyOut):
    key: str  # the only time the plaintext is shown


# ---- admin -----------------------------------------------------------------------------
class RoleIn(Strict):
    role: Literal["admin", "user", "pending"]


class PlatformSettings(Strict):
    signup_policy: Literal["open", "approval", "closed"]


# ---- chats -----------------------------------------------------------------------------

class ChatCreateIn(Strict):
    title: str | None = Field(default=None, max_length=300)
    model: str | None = Field(default=None, max_length=300)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    params: ChatParams | None = None


class ChatUpdateIn(Strict):
    title: str = not_null(max_length=300)
    pinned: bool = not_null()
    archived: bool = not_null()
    model: str | None = Field(default=None, max_length=300)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    params: ChatParams | None = None


class ChatOut(BaseModel):
    id: str
    title: str
    pinned: bool
    archived: bool
    model: str | None
    system_prompt: str | None
    params: dict[str, Any]  # as stored
    current_leaf_id: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, chat: ChatRow) -> ChatOut:
        return cls(id=chat.id, title=chat.title, pinned=chat.pinned, archived=chat.archived, model=chat.model,
                   system_prompt=chat.system_prompt, params=chat.params or {},
                   current_leaf_id=chat.current_leaf_id, message_count=chat.message_count,
                   created_at=chat.created_at, updated_at=chat.updated_at)


class ChatListOut(BaseModel):
    chats: list[ChatOut]
    next_cursor: str | None


class MessageIn(Strict):
    content: str = Field(min_length=1)
    role: Literal["user", "assistant"] = "user"
    parent_id: str | None = None
    client_message_id: str | None = Field(default=None, min_length=1, max_length=100)


class MessageEditIn(Strict):
    content: str = Field(min_length=1)
    client_message_id: str | None = Field(default=None, min_length=1, max_length=100)


class SwitchBranchIn(Strict):
    message_id: str = Field(max_length=36)


class MessageOut(BaseModel):
    id: str
    parent_id: str | None
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
    sibling_ids: list[str]

    @classmethod
    def of(cls, m: MessageRow, siblings: list[str] | None = None) -> MessageOut:
        return cls(id=m.id, parent_id=m.parent_id, role=m.role, content=m.content, reasoning=m.reasoning,
                   model=m.model, status=m.status, error=m.error, usage=m.usage,
                   client_message_id=m.client_message_id, created_at=m.created_at, updated_at=m.updated_at,
                   sibling_ids=siblings or [m.id])


class ChatDetailOut(BaseModel):
    chat: ChatOut
    messages: list[MessageOut]  # oldest first
    has_more: bool
    next_before: str | None  # pass as ?before= to load older messages


# ---- export / import -------------------------------------------------------------------
class ImportMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: str = Field(min_length=1, max_length=100)
    parent_id: str | None = Field(default=None, max_length=100)
    role: Literal["user", "assistant", "system"]
    content: str
    reasoning: str | None = None
    model: str | None = Field(default=None, max_length=300)
    status: str | None = None
    usage: dict[str, Any] | None = None


class ImportChat(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    title: str | None = Field(default=None, max_length=300)
    pinned: bool = False
    archived: bool = False
    model: str | None = Field(default=None, max_length=300)
    system_prompt: str | None = None
    params: ChatParams | None = None
    current_leaf_id: str | None = None
    messages: list[ImportMessage] = []


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    format: Literal["omnichat.chats"]
    version: Literal[1]
    chats: list[ImportChat]

"""Request and response bodies of the REST API. Requests forbid unknown fields, so a typo
in a field name is an error rather than a silently ignored change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from omnichat.auth.api_keys import ApiKeyRow
from omnichat.auth.users import UserRow
from omnichat.chats import params as chat_params
from omnichat.chats.attachments import Attachment, CollectionRef, Documents, Source
from omnichat.chats.organize import Labels
from omnichat.chats.rows import ChatRow, MessageRow
from omnichat.chats.shares import ShareRow


class Strict(BaseModel):
    # strict: JSON's types as they are (`"true"` or `1` is not a boolean), as the schema says.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer (or null) as JSON Schema has it: 1004.0 is one (a client may well send it so),
# "1004" is not. The union is inside: bounds given by the field's Field() then still reach
# the schema as minimum/maximum.
WholeNumberOrNone = Annotated[int | None, BeforeValidator(_integral)]


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


class SsoOption(BaseModel):
    name: str
    start_url: str


class SignUpOptionsOut(BaseModel):
    """What the sign-in and sign-up pages need before anyone signs in: whether a new
    account can be made (`signup`: the policy a sign-up now meets; a server with no account
    yet is "open", its first account becomes the administrator) and whether the server
    has an administrator yet (a yes or no, nothing more)."""

    signup: Literal["open", "approval", "closed"]
    has_admin: bool
    # False: only break-glass admins sign in with a password; the others use single sign-on.
    password_signin: bool = True
    sso: SsoOption | None = None  # single sign-on, when configured: the button's label and where it goes


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
    sharing_enabled: bool = False  # users may make read-only links to their chats
    share_links_public: bool = True  # links open without signing in (else: for approved accounts only)


class PlatformSettingsIn(Strict):
    """The settings to change; those left out keep their value."""

    signup_policy: Literal["open", "approval", "closed"] | None = None
    sharing_enabled: bool | None = None
    share_links_public: bool | None = None



class ProfileIn(Strict):
    name: str = not_null(max_length=200)


# A colour name (the initial on that colour) or an emoji, each from a fixed list.
Avatar = Literal[
    "red", "orange", "amber", "green", "teal", "blue", "indigo", "purple", "pink", "grey",
    "😀", "😎", "🤓", "🙂", "🦊", "🐱", "🐶", "🐼", "🦉", "🐙", "🌻", "🌈", "🚀", "⭐", "🎧", "☕",
]


class PreferencesIn(Strict):
    """A partial update of the signed-in person's preferences (auth/preferences.py)."""
    default_model: str | None = Field(default=None, max_length=300)  # null: the last one used
    theme: Literal["system", "light", "dark"] = not_null()
    send_on_enter: bool = not_null()  # false: Ctrl/Cmd+Enter sends, Enter is a new line
    system_prompt: str | None = Field(default=None, max_length=20_000)  # for new chats; null: none
    avatar: Avatar | None = None  # null: the initial on the accent colour


class PreferencesOut(BaseModel):
    default_model: str | None
    theme: Literal["system", "light", "dark"] | None  # null: never chosen
    send_on_enter: bool
    system_prompt: str | None
    avatar: Avatar | None


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
    folder_id: str | None = None  # the user's folder it is in
    tags: list[str] = []

    @classmethod
    def of(cls, chat: ChatRow, labels: Labels | None = None) -> ChatOut:
        return cls(id=chat.id, title=chat.title, pinned=chat.pinned, archived=chat.archived, model=chat.model,
                   system_prompt=chat.system_prompt, params=chat.params or {},
                   current_leaf_id=chat.current_leaf_id, message_count=chat.message_count,
                   created_at=chat.created_at, updated_at=chat.updated_at,
                   folder_id=labels.folder_id if labels else None, tags=list(labels.tags) if labels else [])


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
    attachments: list[Attachment] = []  # a user message's files
    collections: list[CollectionRef] = []  # a user message's knowledge collections (`#`, or its preset's)
    sources: list[Source] = []  # what an answer was given to cite

    @classmethod
    def of(cls, m: MessageRow, siblings: list[str] | None = None, documents: Documents | None = None) -> MessageOut:
        return cls(id=m.id, parent_id=m.parent_id, role=m.role, content=m.content, reasoning=m.reasoning,
                   model=m.model, status=m.status, error=m.error, usage=m.usage,
                   client_message_id=m.client_message_id, created_at=m.created_at, updated_at=m.updated_at,
                   sibling_ids=siblings or [m.id],
                   attachments=documents.attachments.get(m.id, []) if documents else [],
                   collections=documents.collections.get(m.id, []) if documents else [],
                   sources=documents.sources.get(m.id, []) if documents else [])


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
    folder: str | None = Field(default=None, max_length=100)  # the folder's name
    tags: list[Annotated[str, Field(max_length=50)]] = Field(default=[], max_length=20)
    messages: list[ImportMessage] = []


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    format: Literal["omnichat.chats"]
    version: Literal[1]
    chats: list[ImportChat]


# ---- share links -----------------------------------------------------------------------
class ShareOut(BaseModel):
    id: str
    chat_id: str
    title: str
    prefix: str  # the token's first characters, to recognise a link
    message_count: int
    created_at: datetime

    @classmethod
    def of(cls, share: ShareRow) -> ShareOut:
        return cls(id=share.id, chat_id=share.chat_id, title=share.title, prefix=share.prefix,
                   message_count=share.message_count, created_at=share.created_at)


class ShareCreated(ShareOut):
    token: str  # the only time it is shown; the link is /s/<token>


class SharedMessageOut(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    model: str | None
    status: str
    created_at: datetime


class SharedChatOut(BaseModel):
    """What a link shows: the snapshot only (no ids, no owner)."""

    title: str
    shared_at: datetime
    messages: list[SharedMessageOut]


# ---- folders and tags ------------------------------------------------------------------
class FolderIn(Strict):
    name: str = Field(min_length=1, max_length=100)


class FolderOut(BaseModel):
    id: str
    name: str
    chat_count: int
    created_at: datetime


class MoveIn(Strict):
    chat_ids: list[Annotated[str, Field(max_length=36)]] = Field(min_length=1, max_length=200)
    folder_id: str | None = Field(max_length=36)  # null: out of any folder


class TagOut(BaseModel):
    tag: str
    chat_count: int


# ---- files and collections (docs/documents.md) -----------------------------------------
FileStatus = Literal["uploading", "queued", "indexing", "ready", "failed"]


class FileOut(BaseModel):
    id: str
    name: str
    kind: Literal["document", "image"]
    content_type: str | None  # sniffed from the bytes; null until they are in
    size: int
    status: FileStatus
    progress: int  # percent, while indexing
    error: str | None  # why it failed, for the person
    pages: int | None
    chunk_count: int
    collection_id: str | None  # null: a chat attachment
    created_at: datetime
    updated_at: datetime


class FileListOut(BaseModel):
    files: list[FileOut]


class UploadStartIn(Strict):
    name: str = Field(min_length=1, max_length=1000)
    size: int = Field(ge=0, le=1 << 53)  # bytes; the form accepts 1 to this many
    collection_id: str | None = Field(default=None, max_length=36)


class UploadFormOut(BaseModel):
    """POST `fields` and then the file (the last part, named `file`) as multipart/form-data to `url`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class UploadStartOut(BaseModel):
    file: FileOut
    upload: UploadFormOut


class PassageOut(BaseModel):
    file_id: str
    file_name: str
    chunk_id: str
    ordinal: int
    text: str
    page: int | None
    section: str | None
    previous: str | None  # the text of the passage just before, if any
    next: str | None


class CollectionIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)


class CollectionUpdateIn(Strict):
    name: str = not_null(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)  # null or "": none


class CollectionOut(BaseModel):
    id: str
    name: str
    description: str | None
    embed_model: str | None
    owned: bool  # false: shared with you through a group, to read only
    file_count: int
    groups: list[str]  # the groups it is shared with (its owner sees them; empty for readers)
    created_at: datetime
    updated_at: datetime


class CollectionListOut(BaseModel):
    collections: list[CollectionOut]

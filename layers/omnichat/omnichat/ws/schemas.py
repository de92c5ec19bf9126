"""Client frames, checked by hand (omnichat.checks: ws_chat answers without loading
Pydantic). Unknown fields are refused so a misspelt field is an error, not a silently
ignored option; the first fault is reported as `invalid_request` naming its field."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from omnichat.chats.params import SEND_CHECKS
from omnichat.checks import Check, Fields, Invalid, array, integer, nested, string

ID = string(1, 36)
MAX_ATTACHMENTS, MAX_COLLECTIONS = 10, 5  # documents/retrieval.py


def _ids(max_length: int) -> Check[tuple[str, ...]]:
    """A list of ids, each once."""
    items = array(ID, 0, max_length)

    def check(param: str, value: Any) -> tuple[str, ...]:
        ids = items(param, value)
        if len(set(ids)) != len(ids):
            raise Invalid(param, "ids without duplicates")
        return tuple(ids)
    return check


@dataclass(frozen=True)
class Params:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None

    def given(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Part:
    index: int
    count: int


@dataclass(frozen=True, kw_only=True)
class Frame:
    action: str
    request_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Ping(Frame):
    pass


@dataclass(frozen=True, kw_only=True)
class Send(Frame):
    content: str
    client_message_id: str
    chat_id: str | None = None
    model: str | None = None
    parent_id: str | None = None
    system_prompt: str | None = None
    params: Params | None = None
    part: Part | None = None
    attachments: tuple[str, ...] | None = None  # file ids (the sender's own)
    collections: tuple[str, ...] | None = None  # collection ids (the sender may read)


@dataclass(frozen=True, kw_only=True)
class Stop(Frame):
    chat_id: str
    message_id: str


@dataclass(frozen=True, kw_only=True)
class Regenerate(Frame):
    chat_id: str
    message_id: str
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class Edit(Frame):
    chat_id: str
    message_id: str
    content: str
    client_message_id: str
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class Resume(Frame):
    chat_id: str
    message_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Pull(Frame):
    model: str


def _read(f: Fields, cls: type, checks: dict[str, Check[Any]]) -> dict[str, Any]:
    """The fields of dataclass `cls` from `f`, each checked by `checks[name]`: required
    where the dataclass has no default; any other field in `f` is refused."""
    f.only(*(field.name for field in fields(cls)))
    return {field.name: (f.required if field.default is MISSING else f.optional)(field.name, checks[field.name])
            for field in fields(cls) if field.name in checks}


def _part(f: Fields) -> Part:
    part = Part(**_read(f, Part, {"index": integer(0, 63), "count": integer(1, 64)}))
    if part.index >= part.count:
        raise Invalid("part.index", "a number less than part.count", part.index)
    return part


PARAMS = SEND_CHECKS  # one set of rules for every surface (chats/params.py)
# Every frame field but `action` (known before a frame is read), by name: the same name is
# checked the same way in every action.
FIELDS: dict[str, Check[Any]] = {
    "request_id": string(0, 100), "content": string(), "client_message_id": string(1, 100),
    "chat_id": ID, "message_id": ID, "parent_id": ID, "model": string(1, 300), "system_prompt": string(0, 20_000),
    "params": nested(lambda f: Params(**_read(f, Params, PARAMS))), "part": nested(_part),
    "attachments": _ids(MAX_ATTACHMENTS), "collections": _ids(MAX_COLLECTIONS),
}
_FRAMES: dict[str, type[Frame]] = {
    "ping": Ping, "chat.send": Send, "chat.stop": Stop, "chat.regenerate": Regenerate, "chat.edit": Edit,
    "chat.resume": Resume, "model.pull": Pull,
}
ACTIONS = tuple(_FRAMES)


def parse(action: str, raw: dict[str, Any]) -> Frame:
    """The frame of a known `action`; `Invalid` names the first field at fault."""
    frame_type = _FRAMES[action]
    return frame_type(action=action, **_read(Fields(raw), frame_type, FIELDS))

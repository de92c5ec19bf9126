"""Client frames, validated. Unknown fields are refused so a misspelt field is an error,
not a silently ignored option."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Id = Field(min_length=1, max_length=36)
ClientId = Field(min_length=1, max_length=100)


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str
    request_id: str | None = Field(default=None, max_length=100)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32_000)


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, lt=64)
    count: int = Field(ge=1, le=64)


class Ping(Frame):
    action: Literal["ping"]


class Send(Frame):
    action: Literal["chat.send"]
    content: str
    client_message_id: str = ClientId
    chat_id: str | None = Field(default=None, min_length=1, max_length=36)
    model: str | None = Field(default=None, min_length=1, max_length=300)
    parent_id: str | None = Field(default=None, min_length=1, max_length=36)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    params: Params | None = None
    part: Part | None = None

    @field_validator("part")
    @classmethod
    def _index_in_range(cls, part: Part | None) -> Part | None:
        if part is not None and part.index >= part.count:
            raise ValueError("part.index must be less than part.count")
        return part


class Stop(Frame):
    action: Literal["chat.stop"]
    chat_id: str = Id
    message_id: str = Id


class Regenerate(Frame):
    action: Literal["chat.regenerate"]
    chat_id: str = Id
    message_id: str = Id
    model: str | None = Field(default=None, min_length=1, max_length=300)


class Edit(Frame):
    action: Literal["chat.edit"]
    chat_id: str = Id
    message_id: str = Id
    content: str
    client_message_id: str = ClientId
    model: str | None = Field(default=None, min_length=1, max_length=300)


class Resume(Frame):
    action: Literal["chat.resume"]
    chat_id: str = Id
    message_id: str | None = Field(default=None, min_length=1, max_length=36)


class Pull(Frame):
    action: Literal["model.pull"]
    model: str = Field(min_length=1, max_length=300)


ACTIONS: dict[str, type[Frame]] = {
    "ping": Ping, "chat.send": Send, "chat.stop": Stop, "chat.regenerate": Regenerate, "chat.edit": Edit,
    "chat.resume": Resume, "model.pull": Pull,
}


def describe(errors: list[dict[str, Any]]) -> str:
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "frame"
    return f"{where}: {first.get('msg', 'invalid')}"

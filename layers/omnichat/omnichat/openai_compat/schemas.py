"""Request bodies of the OpenAI API, as far as the gateway understands them.

Strict types (a string is not a number, "true" is not a boolean, `null` is "not given"),
OpenAI's ranges, and unknown fields allowed and ignored, as OpenAI-compatible servers do
(clients send `user`, `seed`, `parallel_tool_calls`, ...). `messages` stay plain dicts
here: their meaning, and their errors, are messages.py's business.

Checked by hand (omnichat.checks) rather than with Pydantic: two bodies do not justify a
library whose import is a quarter of the gateway's cold start (bench/cold_start.py). The
first fault found is a 400 naming its parameter (`tools[0].function.name`), as OpenAI
does."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from omnichat.chats.params import MAX_TOKENS_CHECK
from omnichat.checks import (
    Fields,
    Invalid,
    NotJson,
    array,
    boolean,
    integer,
    json_object,
    load_json,
    nested,
    number,
    one_of,
    string,
)

from .errors import GatewayError, invalid

T = TypeVar("T")
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
TOOL_CHOICES = ("none", "auto", "required")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")
ENCODING_FORMATS = ("float", "base64")


@dataclass(frozen=True)
class StreamOptions:
    include_usage: bool = False


@dataclass(frozen=True)
class FunctionDef:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


@dataclass(frozen=True)
class ToolDef:
    type: str  # "function"
    function: FunctionDef


@dataclass(frozen=True)
class FunctionName:
    name: str


@dataclass(frozen=True)
class NamedToolChoice:
    type: str  # "function"
    function: FunctionName


@dataclass(frozen=True)
class ChatCompletionBody:
    model: str
    messages: list[dict[str, Any]]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    tools: list[ToolDef] | None = None
    tool_choice: str | NamedToolChoice | None = None
    reasoning_effort: str | None = None
    n: int | None = None
    logprobs: bool | None = None
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True)
class EmbeddingsBody:
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: str | None = "float"
    dimensions: int | None = None


def parse(body_type: type[T], raw: bytes) -> T:
    """The body validated as `body_type`, or a 400 naming the parameter at fault."""
    try:
        data = load_json(raw or b"")
    except NotJson as fault:
        raise GatewayError(400, str(fault), code="invalid_json") from None
    if not isinstance(data, dict):
        raise GatewayError(400, "The request body must be a JSON object", code="invalid_json")
    try:
        return _PARSERS[body_type](Fields(data))  # type: ignore[no-any-return]
    except Invalid as fault:
        if fault.missing:
            raise invalid(fault.param, f"Missing required parameter: '{fault.param}'.",
                          code="missing_required_parameter") from None
        raise invalid(fault.param, f"Invalid value for '{fault.param}': expected {fault.expected}{fault.detail}.") \
            from None


def _stream_options(o: Fields) -> StreamOptions:
    return StreamOptions(include_usage=o.optional("include_usage", boolean, False) or False)


def _tool(o: Fields) -> ToolDef:
    return ToolDef(type=o.required("type", one_of("function")), function=o.required("function", nested(
        lambda f: FunctionDef(name=f.required("name", string(pattern=TOOL_NAME)),
                              description=f.optional("description", string()),
                              parameters=f.optional("parameters", json_object), strict=f.optional("strict", boolean)))))


def _named_choice(o: Fields) -> NamedToolChoice:
    return NamedToolChoice(type=o.required("type", one_of("function")), function=o.required("function", nested(
        lambda f: FunctionName(name=f.required("name", string(pattern=TOOL_NAME))))))


def _tool_choice(param: str, value: Any) -> str | NamedToolChoice:
    if isinstance(value, str):
        return one_of(*TOOL_CHOICES)(param, value)
    if isinstance(value, dict):
        return nested(_named_choice)(param, value)
    raise Invalid(param, "'none', 'auto', 'required' or a named function", value)


def _stop(param: str, value: Any) -> str | list[str]:
    return value if isinstance(value, str) else array(string())(param, value)


def _embedding_input(param: str, value: Any) -> str | list[Any]:
    """A string, or an array of strings, of token ids, or of arrays of token ids."""
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if isinstance(value, str) or isinstance(value, list) and (
            all(isinstance(v, str) for v in value) or all(is_int(v) for v in value)
            or all(isinstance(v, list) and all(is_int(t) for t in v) for v in value)):
        return value
    raise Invalid(param, "a string, an array of strings, or an array of token ids or token-id arrays", value)


def _chat_completion(o: Fields) -> ChatCompletionBody:
    return ChatCompletionBody(
        model=o.required("model", string(1, 300)),
        messages=o.required("messages", array(json_object, min_length=1)),
        stream=o.optional("stream", boolean, False),
        stream_options=o.optional("stream_options", nested(_stream_options)),
        max_tokens=o.optional("max_tokens", MAX_TOKENS_CHECK),  # the platform's cap (chats/params.py)
        max_completion_tokens=o.optional("max_completion_tokens", MAX_TOKENS_CHECK),
        temperature=o.optional("temperature", number(0, 2)),
        top_p=o.optional("top_p", number(0, 1)),
        stop=o.optional("stop", _stop),
        tools=o.optional("tools", array(nested(_tool), max_length=128)),
        tool_choice=o.optional("tool_choice", _tool_choice),
        reasoning_effort=o.optional("reasoning_effort", one_of(*REASONING_EFFORTS)),
        n=o.optional("n", integer(1)),
        logprobs=o.optional("logprobs", boolean),
        response_format=o.optional("response_format", json_object),
    )


def _embeddings(o: Fields) -> EmbeddingsBody:
    return EmbeddingsBody(
        model=o.required("model", string(1, 300)),
        input=o.required("input", _embedding_input),
        encoding_format=o.optional("encoding_format", one_of(*ENCODING_FORMATS), "float"),
        dimensions=o.optional("dimensions", integer(1)),
    )


_PARSERS: dict[type, Callable[[Fields], Any]] = {ChatCompletionBody: _chat_completion, EmbeddingsBody: _embeddings}

"""Request bodies of the OpenAI API, as far as the gateway understands them.

Strict types (a string is not a number, "true" is not a boolean, `null` is "not given"),
OpenAI's ranges, and unknown fields allowed and ignored, as OpenAI-compatible servers do
(clients send `user`, `seed`, `parallel_tool_calls`, ...). `messages` stay plain dicts
here: their meaning, and their errors, are messages.py's business.

Checked by hand rather than with Pydantic: two bodies do not justify a library whose
import is a quarter of the gateway's cold start (bench/cold_start.py). The first fault
found is a 400 naming its parameter (`tools[0].function.name`), as OpenAI does."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

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
        data = json.loads(raw or b"")
    except ValueError:
        raise GatewayError(400, "The request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise GatewayError(400, "The request body must be a JSON object", code="invalid_json")
    return _PARSERS[body_type](_Object(data, ""))  # type: ignore[return-value]


# ---------------------------------------------------------------------------- the checks
class _Object:
    """A JSON object being read, with its path for error messages."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data, self.path = data, path

    def param(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def required(self, name: str, check: Callable[[str, Any], T]) -> T:
        if self.data.get(name) is None:
            param = self.param(name)
            raise invalid(param, f"Missing required parameter: '{param}'.", code="missing_required_parameter")
        return check(self.param(name), self.data[name])

    def optional(self, name: str, check: Callable[[str, Any], T], default: Any = None) -> Any:
        if name not in self.data:
            return default
        value = self.data[name]
        return None if value is None else check(self.param(name), value)


def _wrong(param: str, expected: str, given: Any) -> GatewayError:
    shown = json.dumps(given)[:80] if isinstance(given, (str, int, float, bool)) else None
    detail = f" (got {shown})" if shown is not None else ""
    return invalid(param, f"Invalid value for '{param}': expected {expected}{detail}.")


def _string(min_length: int = 0, max_length: int | None = None,
            pattern: re.Pattern[str] | None = None) -> Callable[[str, Any], str]:
    def check(param: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _wrong(param, "a string", value)
        if len(value) < min_length or (max_length is not None and len(value) > max_length):
            raise _wrong(param, f"a string of {min_length} to {max_length} characters"
                         if max_length is not None else f"a string of at least {min_length} characters", value)
        if pattern is not None and not pattern.fullmatch(value):
            raise _wrong(param, f"a string matching {pattern.pattern}", value)
        return value
    return check


def _one_of(*choices: str) -> Callable[[str, Any], str]:
    def check(param: str, value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise _wrong(param, "one of " + ", ".join(repr(c) for c in choices), value)
        return value
    return check


def _boolean(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _wrong(param, "a boolean", value)
    return value


def _integer(minimum: int) -> Callable[[str, Any], int]:
    def check(param: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong(param, "an integer", value)
        if value < minimum:
            raise _wrong(param, f"an integer of at least {minimum}", value)
        return value
    return check


def _number(minimum: float, maximum: float) -> Callable[[str, Any], float]:
    def check(param: str, value: Any) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _wrong(param, "a number", value)
        if not minimum <= value <= maximum:
            raise _wrong(param, f"a number from {minimum:g} to {maximum:g}", value)
        return float(value)
    return check


def _object(param: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(param, "an object", value)
    return value


def _array(item: Callable[[str, Any], T], min_length: int = 0,
           max_length: int | None = None) -> Callable[[str, Any], list[T]]:
    def check(param: str, value: Any) -> list[T]:
        if not isinstance(value, list):
            raise _wrong(param, "an array", value)
        if len(value) < min_length or (max_length is not None and len(value) > max_length):
            raise _wrong(param, f"an array of {min_length} to {max_length} items"
                         if max_length is not None else f"an array of at least {min_length} items", None)
        return [item(f"{param}[{i}]", v) for i, v in enumerate(value)]
    return check


def _nested(read: Callable[[_Object], T]) -> Callable[[str, Any], T]:
    return lambda param, value: read(_Object(_object(param, value), param))


def _stream_options(o: _Object) -> StreamOptions:
    return StreamOptions(include_usage=o.optional("include_usage", _boolean, False) or False)


def _tool(o: _Object) -> ToolDef:
    return ToolDef(type=o.required("type", _one_of("function")), function=o.required("function", _nested(
        lambda f: FunctionDef(name=f.required("name", _string(pattern=TOOL_NAME)),
                              description=f.optional("description", _string()),
                              parameters=f.optional("parameters", _object), strict=f.optional("strict", _boolean)))))


def _named_choice(o: _Object) -> NamedToolChoice:
    return NamedToolChoice(type=o.required("type", _one_of("function")), function=o.required("function", _nested(
        lambda f: FunctionName(name=f.required("name", _string(pattern=TOOL_NAME))))))


def _tool_choice(param: str, value: Any) -> str | NamedToolChoice:
    if isinstance(value, str):
        return _one_of(*TOOL_CHOICES)(param, value)
    if isinstance(value, dict):
        return _nested(_named_choice)(param, value)
    raise _wrong(param, "'none', 'auto', 'required' or a named function", value)


def _stop(param: str, value: Any) -> str | list[str]:
    return value if isinstance(value, str) else _array(_string())(param, value)


def _embedding_input(param: str, value: Any) -> str | list[Any]:
    """A string, or an array of strings, of token ids, or of arrays of token ids."""
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if isinstance(value, str) or isinstance(value, list) and (
            all(isinstance(v, str) for v in value) or all(is_int(v) for v in value)
            or all(isinstance(v, list) and all(is_int(t) for t in v) for v in value)):
        return value
    raise _wrong(param, "a string, an array of strings, or an array of token ids or token-id arrays", value)


def _chat_completion(o: _Object) -> ChatCompletionBody:
    return ChatCompletionBody(
        model=o.required("model", _string(1, 300)),
        messages=o.required("messages", _array(_object, min_length=1)),
        stream=o.optional("stream", _boolean, False),
        stream_options=o.optional("stream_options", _nested(_stream_options)),
        max_tokens=o.optional("max_tokens", _integer(1)),
        max_completion_tokens=o.optional("max_completion_tokens", _integer(1)),
        temperature=o.optional("temperature", _number(0, 2)),
        top_p=o.optional("top_p", _number(0, 1)),
        stop=o.optional("stop", _stop),
        tools=o.optional("tools", _array(_nested(_tool), max_length=128)),
        tool_choice=o.optional("tool_choice", _tool_choice),
        reasoning_effort=o.optional("reasoning_effort", _one_of(*REASONING_EFFORTS)),
        n=o.optional("n", _integer(1)),
        logprobs=o.optional("logprobs", _boolean),
        response_format=o.optional("response_format", _object),
    )


def _embeddings(o: _Object) -> EmbeddingsBody:
    return EmbeddingsBody(
        model=o.required("model", _string(1, 300)),
        input=o.required("input", _embedding_input),
        encoding_format=o.optional("encoding_format", _one_of(*ENCODING_FORMATS), "float"),
        dimensions=o.optional("dimensions", _integer(1)),
    )


_PARSERS: dict[type, Callable[[_Object], Any]] = {ChatCompletionBody: _chat_completion, EmbeddingsBody: _embeddings}

"""Request bodies of the OpenAI API, as far as the gateway understands them.

Strict types (a string is not a number, "true" is not a boolean), OpenAI's ranges, and
unknown fields allowed and ignored, as OpenAI-compatible servers do (clients send
`user`, `seed`, `parallel_tool_calls`, ...). `messages` stay plain dicts here: their
meaning, and their errors, are messages.py's business."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import GatewayError, from_validation

TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class StreamOptions(_Body):
    include_usage: bool = False


class FunctionDef(_Body):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Body):
    type: Literal["function"]
    function: FunctionDef


class FunctionName(_Body):
    name: str = Field(pattern=TOOL_NAME)


class NamedToolChoice(_Body):
    type: Literal["function"]
    function: FunctionName


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]


class ChatCompletionBody(_Body):
    model: str = Field(min_length=1, max_length=300)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    tools: list[ToolDef] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    reasoning_effort: ReasoningEffort | None = None
    n: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    response_format: dict[str, Any] | None = None


class EmbeddingsBody(_Body):
    model: str = Field(min_length=1, max_length=300)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = "float"
    dimensions: int | None = Field(default=None, ge=1)


def _field_names(*models: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for m in models for name in m.model_fields)


_FIELDS = _field_names(ChatCompletionBody, EmbeddingsBody, StreamOptions, ToolDef, FunctionDef, NamedToolChoice)


def parse(model: type[_Body], raw: bytes) -> Any:
    """The body validated as `model`, or a 400 naming the parameter at fault."""
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0].get("type") == "model_type":  # valid JSON, but not an object
            raise GatewayError(400, "The request body must be a JSON object", code="invalid_json") from None
        raise from_validation([dict(e) for e in errors], _FIELDS) from None

"""The one streaming interface every model backend implements.

A chat call is an async iterator of events: any number of `TextDelta` / `ReasoningDelta`
/ `ToolUseDelta`, then exactly one `Finish`. Failures raise a `ProviderError` subclass
(see errors.py) carrying whatever partial text had already been produced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant"]


# ---- request content -------------------------------------------------------------
@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ImageBlock:
    data: bytes  # raw image bytes (not base64)
    format: Literal["png", "jpeg", "gif", "webp"]


@dataclass(frozen=True)
class ToolUseBlock:
    """An assistant's request to call a tool (a turn in the history)."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class ToolResultBlock:
    """The result of a tool call, sent back in a user turn."""

    tool_use_id: str
    content: str
    is_error: bool = False


ContentBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock


@dataclass(frozen=True)
class Message:
    role: Role
    content: tuple[ContentBlock, ...]

    @classmethod
    def text(cls, role: Role, text: str) -> Message:
        return cls(role=role, content=(TextBlock(text),))

    @property
    def plain_text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ResponseFormat:
    """Structured output: the answer is one JSON value, any JSON object (`json`) or one
    that matches `schema` (`json_schema`). `name` names the schema (Bedrock's forced tool);
    `strict` asks the gateway to check the finished answer against it (structured.py)."""

    kind: Literal["json", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str = "json_response"
    strict: bool = False


@dataclass(frozen=True)
class ChatRequest:
    model: str  # the provider's own model name, without the "ollama/" or "bedrock/" prefix
    messages: tuple[Message, ...]
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    # "auto" | "any" | "none" | a tool name
    tool_choice: str | None = None
    # Token budget for extended thinking where the model supports it (None = off).
    reasoning_budget: int | None = None
    # Constrain the answer to JSON (None: free text).
    response_format: ResponseFormat | None = None
    # Provider-specific extras passed through unchanged (Ollama options, Bedrock
    # additionalModelRequestFields).
    extra: dict[str, Any] = field(default_factory=dict)
    # Ollama: how long the model stays loaded after this call ("10m", 3600, -1: for good),
    # the admin's per-model setting; None: the server's default. Bedrock ignores it.
    keep_alive: str | int | None = None


# ---- stream events ---------------------------------------------------------------
@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolUseDelta:
    """A piece of a tool call. The first delta of a call has id and name; later ones
    carry more of the input's JSON text. `index` counts tool calls from 0."""

    index: int
    id: str | None = None
    name: str | None = None
    input_json: str = ""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


# Normalised stop reasons (Bedrock's vocabulary, which is the richer one).
StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "content_filtered",
    "guardrail_intervened",
    "model_context_window_exceeded",
]


@dataclass(frozen=True)
class Finish:
    stop_reason: str
    usage: Usage
    ttft_ms: float | None  # time to first token, from the call's start
    duration_ms: float
    # The model id that answered when it is not the one asked for (a fallback took over).
    model: str | None = None


StreamEvent = TextDelta | ReasoningDelta | ToolUseDelta | Finish


# ---- listing ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    id: str  # namespaced: "ollama/smollm2:135m", "bedrock/anthropic.claude-3-haiku-..."
    provider: Literal["ollama", "bedrock"]
    name: str  # the provider's own name
    display_name: str
    details: dict[str, Any] = field(default_factory=dict)


class ChatProvider(Protocol):
    name: str

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def list_models(self) -> list[ModelInfo]: ...

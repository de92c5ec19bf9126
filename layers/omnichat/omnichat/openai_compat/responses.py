"""Provider stream events -> OpenAI's `chat.completion` and `chat.completion.chunk`.

`Completion` accumulates a whole answer (the non-streaming response); `Chunks` renders
each event as one server-sent event at once. Chunks are the hot path of a long stream,
so each is the constant envelope (built once per stream) around a small `delta`."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from omnichat.providers.types import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolUseDelta, Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}
DONE = b"data: [DONE]\n\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def finish_reason(stop_reason: str) -> str:
    return FINISH_REASONS.get(stop_reason, "stop")


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


@dataclass
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class Completion:
    """The events of one answer, folded into a `chat.completion` object."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, _ToolCall] = {}
        self.finish: Finish | None = None

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
        elif isinstance(event, ToolUseDelta):
            call = self.tools.setdefault(event.index, _ToolCall())
            call.id = event.id or call.id
            call.name = event.name or call.name
            call.arguments.append(event.input_json)
        elif isinstance(event, Finish):
            self.finish = event

    def body(self) -> dict[str, Any]:
        assert self.finish is not None
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None, "refusal": None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tools:
            message["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": "".join(c.arguments) or "{}"}}
                for _, c in sorted(self.tools.items())
            ]
        return {
            "id": completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_reason(self.finish.stop_reason)}],
            "usage": usage_object(self.finish.usage),
        }


class Chunks:
    """Server-sent events of one streamed answer."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        head = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model, "system_fingerprint": None}
        self._head = b"data: " + _dumps(head)[:-1].encode() + b',"choices":[{"index":0,"delta":'
        usage = b',"usage":null' if include_usage else b""
        self._tail = b',"logprobs":null,"finish_reason":null}]' + usage + b"}\n\n"
        self._usage_head = b"data: " + _dumps(head)[:-1].encode() + b',"choices":[],"usage":'

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        return self._head + _dumps(delta).encode() + self._tail

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def event(self, event: StreamEvent) -> bytes:
        if isinstance(event, TextDelta):
            return self._chunk({"content": event.text})
        if isinstance(event, ReasoningDelta):
            return self._chunk({"reasoning_content": event.text})
        if isinstance(event, ToolUseDelta):
            call: dict[str, Any] = {"index": event.index}
            if event.id is not None:
                call.update(id=event.id, type="function")
                call["function"] = {"name": event.name or "", "arguments": event.input_json}
            else:
                call["function"] = {"arguments": event.input_json}
            return self._chunk({"tool_calls": [call]})
        assert isinstance(event, Finish)
        return self.finish(event)

    def finish(self, event: Finish) -> bytes:
        reason = _dumps(finish_reason(event.stop_reason)).encode()
        out = self._head + b'{},"logprobs":null,"finish_reason":' + reason + b"}]"
        out += (b',"usage":null' if self.include_usage else b"") + b"}\n\n"
        if self.include_usage:
            out += self._usage_head + _dumps(usage_object(event.usage)).encode() + b"}\n\n"
        return out + DONE

"""The translation tables themselves, for what the local backends cannot be made to do
(a guardrail intervening, a context window overflowing, two tool calls in one answer)."""

from __future__ import annotations

import json

import pytest

from omnichat.openai_compat.responses import Chunks, Completion, finish_reason
from omnichat.providers.types import Finish, TextDelta, ToolUseDelta, Usage


@pytest.mark.parametrize(("stop_reason", "expected"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("content_filtered", "content_filter"), ("guardrail_intervened", "content_filter"),
])
def test_finish_reasons(stop_reason, expected):
    assert finish_reason(stop_reason) == expected


def events_of(sse: bytes) -> list[dict]:
    return [json.loads(line[6:]) for line in sse.decode().splitlines() if line.startswith("data: {")]


def test_two_tool_calls_stream_with_their_own_indexes_from_zero():
    chunks = Chunks("bedrock/m", include_usage=True)
    wire = b"".join([
        chunks.start(), chunks.event(TextDelta("Let me check. ")),
        chunks.event(ToolUseDelta(0, id="t1", name="a")), chunks.event(ToolUseDelta(0, input_json='{"x": 1}')),
        chunks.event(ToolUseDelta(1, id="t2", name="b")), chunks.event(ToolUseDelta(1, input_json="{}")),
        chunks.finish(Finish("guardrail_intervened", Usage(10, 5, cache_read_tokens=4), 1.0, 2.0)),
    ])
    events = events_of(wire)
    calls = [c for e in events if e["choices"] for c in e["choices"][0]["delta"].get("tool_calls", [])]
    assert [c["index"] for c in calls] == [0, 0, 1, 1]
    assert calls[0] == {"index": 0, "id": "t1", "type": "function", "function": {"name": "a", "arguments": ""}}
    assert calls[1] == {"index": 0, "function": {"arguments": '{"x": 1}'}}
    assert events[-2]["choices"][0]["finish_reason"] == "content_filter"
    assert events[-1]["choices"] == [] and events[-1]["usage"] == {
        "prompt_tokens": 14, "completion_tokens": 5, "total_tokens": 19, "prompt_tokens_details": {"cached_tokens": 4}}
    assert wire.endswith(b"data: [DONE]\n\n")


def test_completion_folds_tool_calls_in_order():
    answer = Completion("bedrock/m")
    for event in (ToolUseDelta(1, id="t2", name="b"), ToolUseDelta(0, id="t1", name="a"),
                  ToolUseDelta(0, input_json='{"x":'), ToolUseDelta(0, input_json=" 1}"),
                  Finish("tool_use", Usage(1, 2), None, 3.0)):
        answer.add(event)
    message = answer.body()["choices"][0]["message"]
    assert message["content"] is None
    assert [(c["id"], c["function"]["arguments"]) for c in message["tool_calls"]] == [("t1", '{"x": 1}'), ("t2", "{}")]

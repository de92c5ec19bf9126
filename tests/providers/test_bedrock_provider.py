"""The Bedrock provider against the Bedrock emulator, over its real wire protocol: what it sends
(checked in the emulator's request journal), what it streams back, and how every kind of
failure comes out as a typed ProviderError that keeps the text already streamed."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from omnichat.providers.bedrock import BedrockProvider, _StreamState, converse_params
from omnichat.providers.errors import (
    AccessDenied,
    ContextTooLong,
    InvalidRequest,
    ModelNotEnabled,
    ModelNotFound,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    Throttled,
)
from omnichat.providers.types import (
    ChatRequest,
    Finish,
    ImageBlock,
    Message,
    ReasoningDelta,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    ToolUseDelta,
    Usage,
)
from tests.providers.conftest_bedrock import (  # noqa: F401  (fixtures)
    PNG_1x1,
    aws_env,
    bedrock,
    bedrock_server,
    closed_port,
    collect,
    provider_for,
    run,
)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET_PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
WEATHER = ToolSpec("get_weather", "Weather for a city", {
    "type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}})


def ask(text: str, model: str = HAIKU, **kwargs: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message.text("user", text),), **kwargs)


def stream(provider: BedrockProvider, request: ChatRequest) -> list:
    return run(lambda: collect(provider.stream_chat(request)))


def stream_until_error(provider: BedrockProvider, request: ChatRequest) -> tuple[list, ProviderError]:
    received: list = []

    async def body() -> None:
        async for event in provider.stream_chat(request):
            received.append(event)

    with pytest.raises(ProviderError) as err:
        run(body)
    return received, err.value


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# ---- the happy path -------------------------------------------------------------------
def test_streams_text_deltas_then_finish_with_usage(bedrock) -> None:
    events = stream(provider_for(bedrock.url), ask("hello [[tokens=7]]", max_tokens=50, temperature=0.3))
    deltas, finish = events[:-1], events[-1]
    assert len(deltas) == 7 and all(isinstance(e, TextDelta) for e in deltas)
    assert isinstance(finish, Finish) and finish.stop_reason == "end_turn"
    assert finish.usage.output_tokens == 7 and finish.usage.input_tokens == 2
    assert finish.ttft_ms is not None and 0 < finish.ttft_ms <= finish.duration_ms
    sent = bedrock.state.journal.last("ConverseStream")
    assert sent["modelId"] == HAIKU
    assert sent["body"]["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.3}


def test_system_prompt_and_merged_same_role_turns_reach_bedrock(bedrock) -> None:
    request = ChatRequest(model=HAIKU, system="Be brief.", stop=("END",), messages=(
        Message.text("user", "first"),
        Message.text("user", "second"),
        Message.text("assistant", "reply"),
        Message.text("assistant", "   "),  # an empty partial answer: dropped, not sent blank
        Message.text("assistant", "more"),
        Message.text("user", "third [[tokens=2]]"),
    ))
    events = stream(provider_for(bedrock.url), request)
    assert isinstance(events[-1], Finish)
    body = bedrock.state.journal.last("ConverseStream")["body"]
    assert body["system"] == [{"text": "Be brief."}]
    assert body["inferenceConfig"] == {"stopSequences": ["END"]}
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "first"}, {"text": "second"}]},
        {"role": "assistant", "content": [{"text": "reply"}, {"text": "more"}]},
        {"role": "user", "content": [{"text": "third [[tokens=2]]"}]},
    ]


def test_images_are_sent_as_bytes(bedrock) -> None:
    request = ChatRequest(model=HAIKU, messages=(Message("user", (
        TextBlock("what is this? [[echo=1]]"), ImageBlock(PNG_1x1, "png"))),))
    events = stream(provider_for(bedrock.url), request)
    assert f"[image png {len(PNG_1x1)} bytes]" in text_of(events)  # the model saw it
    image = bedrock.state.journal.last("ConverseStream")["body"]["messages"][0]["content"][1]["image"]
    assert image["format"] == "png" and base64.b64decode(image["source"]["bytes"]) == PNG_1x1


def test_tool_call_and_result_round_trip(bedrock) -> None:
    provider = provider_for(bedrock.url)
    first = ask("weather in Oslo [[tool=get_weather]] [[tokens=0]]", tools=(WEATHER,), tool_choice="auto")
    events = stream(provider, first)
    tool_events = [e for e in events if isinstance(e, ToolUseDelta)]
    assert tool_events[0].index == 0 and tool_events[0].name == "get_weather" and tool_events[0].id
    arguments = "".join(e.input_json for e in tool_events)
    assert '"city"' in arguments
    assert events[-1].stop_reason == "tool_use"
    assert bedrock.state.journal.last()["body"]["toolConfig"]["toolChoice"] == {"auto": {}}

    import json

    follow_up = ChatRequest(model=HAIKU, tools=(WEATHER,), messages=(
        first.messages[0],
        Message("assistant", (ToolUseBlock(tool_events[0].id, "get_weather", json.loads(arguments)),)),
        Message("user", (ToolResultBlock(tool_events[0].id, "12 C and rain"),)),
        Message.text("user", "and tomorrow? [[tokens=3]]"),  # merged after the tool result
    ))
    events = stream(provider, follow_up)
    assert events[-1].stop_reason == "end_turn" and len(text_of(events).split()) == 3
    last_turn = bedrock.state.journal.last()["body"]["messages"][-1]
    assert [next(iter(b)) for b in last_turn["content"]] == ["toolResult", "text"]


def test_reasoning_budget_turns_on_thinking(bedrock) -> None:
    request = ask("why? [[tokens=2]]", model=SONNET_PROFILE, reasoning_budget=1024, temperature=0.2)
    events = stream(provider_for(bedrock.url), request)
    kinds = [type(e) for e in events]
    assert ReasoningDelta in kinds and kinds.index(ReasoningDelta) < kinds.index(TextDelta)
    body = bedrock.state.journal.last()["body"]
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert body["inferenceConfig"]["maxTokens"] > 1024 and "temperature" not in body["inferenceConfig"]
    assert events[-1].usage.output_tokens > 2  # thinking tokens are billed as output


def test_cache_usage_is_reported() -> None:
    state = _StreamState(time.perf_counter())
    state.translate({"messageStop": {"stopReason": "end_turn"}})
    state.translate({"metadata": {"usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 87,
                                            "cacheReadInputTokens": 80, "cacheWriteInputTokens": 0},
                                  "metrics": {"latencyMs": 5}}})
    assert state.finish().usage == Usage(3, 4, cache_read_tokens=80, cache_write_tokens=0)


def test_list_models_lists_streaming_text_models_and_their_cross_region_profiles(bedrock) -> None:
    models = {m.id: m for m in run(provider_for(bedrock.url).list_models)}
    assert f"bedrock/{HAIKU}" in models  # on demand: by model id ...
    assert models[f"bedrock/us.{HAIKU}"].details["inference_profile"] is True  # ... and through its profile
    assert f"bedrock/eu.{HAIKU}" not in models  # us-east-1 lists only the profiles of its geography
    profile_only = models["bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0"]
    assert profile_only.name == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert profile_only.details["inference_profile"] is True
    assert profile_only.details["routes_to"] == ["us-east-1", "us-east-2", "us-west-2"]
    world = models["bedrock/global.anthropic.claude-haiku-4-5-20251001-v1:0"]  # a global profile
    assert world.display_name == "Global Claude Haiku 4.5" and len(world.details["routes_to"]) > 3
    assert not any(m.details["inference_profile"] and not m.name.startswith(("us.", "global."))
                   for m in models.values())
    assert "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0" not in models
    assert "bedrock/amazon.titan-embed-text-v2:0" not in models  # embeddings
    assert "bedrock/stability.sd3-5-large-v1:0" not in models  # images
    assert models[f"bedrock/{HAIKU}"].details["vision"] is True
    assert all(m.provider == "bedrock" for m in models.values())


def test_list_models_survives_a_denied_profile_listing_but_not_a_denied_model_listing(bedrock) -> None:
    provider = provider_for(bedrock.url)
    bedrock.state.faults.error("AccessDeniedException", operations=frozenset({"ListInferenceProfiles"}))
    ids = {m.id for m in run(provider.list_models)}
    assert f"bedrock/{HAIKU}" in ids and not any(i.startswith("bedrock/us.") for i in ids)
    bedrock.state.faults.error("AccessDeniedException", operations=frozenset({"ListFoundationModels"}))
    with pytest.raises(AccessDenied):
        run(provider.list_models)


def test_tool_choice_and_thinking_parameters() -> None:
    def params(**kwargs: Any) -> dict:
        return converse_params(ask("x", tools=(WEATHER,), **kwargs))

    assert params(tool_choice="any")["toolConfig"]["toolChoice"] == {"any": {}}
    assert params(tool_choice="get_weather")["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    assert "toolChoice" not in params()["toolConfig"]
    assert "toolConfig" not in params(tool_choice="none")
    thinking = params(reasoning_budget=2000, max_tokens=500, top_p=0.5, extra={"top_k": 5})
    assert thinking["inferenceConfig"] == {"maxTokens": 2500}  # room for the answer kept
    assert thinking["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5}
    assert params(reasoning_budget=2000, max_tokens=8000)["inferenceConfig"] == {"maxTokens": 8000}


# ---- failures (retries: test_bedrock_retries.py) ---------------------------------------
def test_throttling_exhausted_raises_throttled(bedrock) -> None:
    bedrock.state.faults.error("ThrottlingException", times=5)
    provider = provider_for(bedrock.url, provider_max_attempts=2)
    provider.client().retry.sleep = lambda seconds: None
    _, error = stream_until_error(provider, ask("x"))
    assert type(error) is Throttled and error.retryable and error.status == 429
    assert len(bedrock.state.journal.entries("ConverseStream")) == 2


@pytest.mark.parametrize("code, expected", [
    ("AccessDeniedException", ModelNotEnabled),  # the emulator's default: "You don't have access to the model"
    ("ModelTimeoutException", ProviderTimeout),
    ("ServiceUnavailableException", ProviderUnavailable),
    ("ResourceNotFoundException", ModelNotFound),
    ("ValidationException", InvalidRequest),
    ("ModelErrorException", ProviderError),
])
def test_bedrock_errors_become_typed_errors(bedrock, code, expected) -> None:
    bedrock.state.faults.error(code)
    _, error = stream_until_error(provider_for(bedrock.url), ask("x"))
    assert type(error) is expected and code in error.detail and error.provider == "bedrock"


def test_mid_stream_exception_keeps_the_partial_text(bedrock) -> None:
    bedrock.state.faults.midstream(after_deltas=3, code="modelStreamErrorException", message="boom")
    received, error = stream_until_error(provider_for(bedrock.url), ask("x [[tokens=10]]"))
    assert len(received) == 3 and type(error) is ProviderError
    assert error.partial_text == text_of(received) and len(error.partial_text.split()) == 3
    assert "boom" in error.detail


def test_in_stream_throttling_is_throttled_with_partial_text(bedrock) -> None:
    bedrock.state.faults.midstream(after_deltas=1, code="throttlingException")
    received, error = stream_until_error(provider_for(bedrock.url), ask("x [[tokens=5]]"))
    assert type(error) is Throttled and error.partial_text == text_of(received) != ""


def test_backend_down_is_provider_unavailable(aws_env) -> None:
    provider = provider_for(f"http://127.0.0.1:{closed_port()}")
    _, error = stream_until_error(provider, ask("x"))
    assert type(error) is ProviderUnavailable and error.retryable


def test_stall_before_first_byte_is_a_timeout(bedrock) -> None:
    bedrock.state.faults.stall(4.0)
    _, error = stream_until_error(provider_for(bedrock.url, provider_read_timeout_s=0.3), ask("x"))
    # Given up during the stall: at its end the emulator would have streamed a whole answer.
    assert type(error) is ProviderTimeout


def test_stall_mid_stream_is_a_timeout_with_partial_text(bedrock) -> None:
    bedrock.state.faults.stall(2.0, after_deltas=2)
    received, error = stream_until_error(
        provider_for(bedrock.url, provider_read_timeout_s=0.3), ask("x [[tokens=6]]"))
    assert type(error) is ProviderTimeout and error.partial_text == text_of(received)
    assert len(received) == 2


def test_corrupted_frame_is_a_provider_error_not_a_hang(bedrock) -> None:
    bedrock.state.faults.corrupt(after_deltas=2)
    received, error = stream_until_error(provider_for(bedrock.url), ask("x [[tokens=6]]"))
    assert type(error) is ProviderError and "corrupted" in error.detail
    assert error.partial_text == text_of(received) and len(received) == 2


def test_unknown_model_is_model_not_found(bedrock) -> None:
    _, error = stream_until_error(provider_for(bedrock.url), ask("x", model="anthropic.nope-v9"))
    assert type(error) is ModelNotFound and error.status == 404


def test_context_overflow_is_context_too_long(bedrock) -> None:
    request = ask("word " * 5000, model="amazon.titan-text-lite-v1")  # 4k-token model
    _, error = stream_until_error(provider_for(bedrock.url), request)
    assert type(error) is ContextTooLong


def test_bad_parameters_are_invalid_request(bedrock) -> None:
    _, error = stream_until_error(provider_for(bedrock.url), ask("x", temperature=1.5))
    assert type(error) is InvalidRequest and "temperature" in error.detail


# ---- resources ------------------------------------------------------------------------
def test_stopping_early_releases_the_worker_thread(bedrock) -> None:
    provider = provider_for(bedrock.url)

    async def first_two() -> list:
        events = []
        agen = provider.stream_chat(ask("x [[tokens=200]] [[rate=100]]"))
        async for event in agen:
            events.append(event)
            if len(events) == 2:
                break
        await agen.aclose()
        return events

    assert len(run(first_two)) == 2
    deadline = time.monotonic() + 3
    while any(t.name == "bedrock-converse-stream" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "stream worker still running"
        time.sleep(0.02)


def test_connections_are_kept_alive_between_streams_but_not_after_an_early_stop(bedrock) -> None:
    provider = provider_for(bedrock.url)
    for text in ("one [[tokens=3]]", "two [[tokens=3]]"):
        assert isinstance(stream(provider, ask(text))[-1], Finish)
        assert len(provider.client()._idle) == 1  # the second stream reused the first's

    async def stop_after_one() -> None:
        agen = provider.stream_chat(ask("x [[tokens=50]] [[rate=100]]"))
        await agen.__anext__()
        await agen.aclose()

    run(stop_after_one)  # a half-read stream cannot be reused: its connection is closed
    assert provider.client()._idle == []


def test_requests_are_signed_as_bedrock_checks_them(bedrock, monkeypatch) -> None:
    """The emulator recomputes the signature of every request made with a key it knows,
    with botocore's signer: model ids and ARNs in the path, query strings, bodies."""
    provider = provider_for(bedrock.url)
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
    assert stream(provider, ask("x [[tokens=1]]", model=arn))[-1].stop_reason == "end_turn"
    assert run(provider.list_models)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    _, error = stream_until_error(provider_for(bedrock.url), ask("x"))
    assert type(error) is AccessDenied and "InvalidSignatureException" in error.detail
    assert bedrock.state.journal.entries("ConverseStream")[-1]["modelId"] == arn  # never reached


def test_clients_are_lazy_and_cached(bedrock) -> None:
    provider = provider_for(bedrock.url)
    assert provider._clients == {}  # nothing created by construction
    assert provider.client() is provider.client()
    assert provider.client("bedrock") is not provider.client()


def test_import_is_cheap() -> None:
    code = "import sys, omnichat.providers.bedrock; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]

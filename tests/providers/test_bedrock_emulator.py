"""The Bedrock emulator speaks Bedrock's wire protocol: real boto3 clients (with only
`endpoint_url` changed) converse, stream, list models and get the right typed errors,
and its event-stream encoder is byte-exact according to botocore's own decoder."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError

from local.bedrock.errors import ERROR_STATUS
from local.bedrock.eventstream import corrupt, encode_event, encode_exception, encode_message
from tests.providers.conftest_bedrock import (  # noqa: F401  (fixtures)
    PNG_1x1,
    assistant,
    aws_env,
    bedrock,
    bedrock_server,
    boto_client,
    control,
    runtime,
    user,
)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET_PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
NOVA = "amazon.nova-micro-v1:0"
WEATHER_TOOL = {"toolSpec": {
    "name": "get_weather", "description": "Weather for a city",
    "inputSchema": {"json": {"type": "object", "required": ["city", "days"], "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"},
        "unit": {"type": "string", "enum": ["C", "F"]}}}},
}}


TYPED_HEADERS = {"flag": True, "off": False, "n": 7, "big": 2**40, "raw": b"\x00\x01", "s": "x"}


def decode_all(data: bytes, chunk: int = 7) -> list:
    buffer = EventStreamBuffer()
    messages = []
    for i in range(0, len(data), chunk):  # odd-sized chunks: frames split anywhere
        buffer.add_data(data[i:i + chunk])
        messages.extend(buffer)
    return messages


# ---- the encoder ----------------------------------------------------------------------
def test_encoder_frames_decode_with_botocore_including_crcs() -> None:
    frames = [
        encode_event("contentBlockDelta", {"delta": {"text": "héllo"}, "contentBlockIndex": 0}),
        encode_exception("throttlingException", {"message": "slow down"}),
        encode_message(TYPED_HEADERS, b"{}"),
    ]
    decoded = decode_all(b"".join(frames))  # botocore checks both CRCs of every frame
    assert len(decoded) == 3

    event, exception, typed = decoded
    assert event.headers == {
        ":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
    payload = json.loads(event.payload)
    assert payload["delta"] == {"text": "héllo"} and payload["contentBlockIndex"] == 0
    assert "p" in payload  # Bedrock-style padding that clients must ignore
    assert exception.headers[":message-type"] == "exception"
    assert exception.headers[":exception-type"] == "throttlingException"
    assert json.loads(exception.payload) == {"message": "slow down"}
    assert typed.headers == TYPED_HEADERS
    for frame, message in zip(frames, decoded, strict=True):
        assert message.prelude.total_length == len(frame)


def test_a_corrupted_frame_fails_botocores_crc_check() -> None:
    good = encode_event("messageStop", {"stopReason": "end_turn"})
    with pytest.raises(ChecksumMismatch):
        decode_all(corrupt(good))


# ---- Converse / ConverseStream --------------------------------------------------------
def test_converse_round_trip(runtime, bedrock) -> None:
    response = runtime.converse(
        modelId=HAIKU, system=[{"text": "You are terse."}],
        messages=[user("hello there [[tokens=6]]")],
        inferenceConfig={"maxTokens": 100, "temperature": 0.2, "topP": 0.9},
    )
    message = response["output"]["message"]
    assert message["role"] == "assistant"
    assert len(message["content"][0]["text"].split()) == 6
    assert response["stopReason"] == "end_turn"
    usage = response["usage"]
    assert usage["outputTokens"] == 6 and usage["inputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert response["metrics"]["latencyMs"] >= 0
    assert bedrock.state.journal.last("Converse")["body"]["system"] == [{"text": "You are terse."}]


def test_max_tokens_and_stop_sequences_end_the_answer(runtime) -> None:
    capped = runtime.converse(modelId=NOVA, messages=[user("count [[tokens=10]]")],
                              inferenceConfig={"maxTokens": 3})
    assert capped["stopReason"] == "max_tokens" and capped["usage"]["outputTokens"] == 3

    full = runtime.converse(modelId=NOVA, messages=[user("say [[echo=1]] alpha beta gamma delta")])
    assert full["output"]["message"]["content"][0]["text"].strip() == "say alpha beta gamma delta"
    stopped = runtime.converse(modelId=NOVA, messages=[user("say [[echo=1]] alpha beta gamma delta")],
                               inferenceConfig={"stopSequences": ["ta gam"]})
    assert stopped["stopReason"] == "stop_sequence"
    assert stopped["output"]["message"]["content"][0]["text"] == "say alpha be"


def test_converse_stream_events_through_botocore(runtime) -> None:
    prompt = [user("stream this [[tokens=5]]")]
    response = runtime.converse_stream(modelId=HAIKU, messages=prompt)
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * 5 + ["contentBlockStop", "messageStop", "metadata"]
    assert events[0]["messageStart"] == {"role": "assistant"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:6])
    assert text == runtime.converse(modelId=HAIKU, messages=prompt)["output"]["message"]["content"][0]["text"]
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    metadata = events[-1]["metadata"]
    assert metadata["usage"]["outputTokens"] == 5
    assert metadata["usage"]["totalTokens"] == metadata["usage"]["inputTokens"] + 5
    assert "latencyMs" in metadata["metrics"]


def test_tool_use_streams_and_round_trips(runtime) -> None:
    tools = {"tools": [WEATHER_TOOL]}
    ask = user("weather in Paris? [[tool=get_weather]] [[tokens=2]]")
    events = list(runtime.converse_stream(modelId=HAIKU, messages=[ask], toolConfig=tools)["stream"])
    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert len(starts) == 1 and starts[0]["contentBlockIndex"] == 1  # after the text block
    tool_start = starts[0]["start"]["toolUse"]
    assert tool_start["name"] == "get_weather"
    pieces = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
              if "contentBlockDelta" in e and "toolUse" in e["contentBlockDelta"]["delta"]]
    assert len(pieces) > 1  # input arrives as partial JSON
    arguments = json.loads("".join(pieces))
    assert set(arguments) == {"city", "days"} and isinstance(arguments["days"], int)
    assert next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "tool_use"

    whole = runtime.converse(modelId=HAIKU, messages=[ask], toolConfig=tools)
    tool_use = whole["output"]["message"]["content"][-1]["toolUse"]
    assert tool_use == {"toolUseId": tool_start["toolUseId"], "name": "get_weather", "input": arguments}

    result = {"role": "user", "content": [{"toolResult": {
        "toolUseId": tool_use["toolUseId"], "content": [{"json": {"temp": 21}}], "status": "success"}}]}
    follow_up = runtime.converse(modelId=HAIKU, toolConfig=tools, messages=[
        ask, {"role": "assistant", "content": whole["output"]["message"]["content"]}, result])
    assert follow_up["stopReason"] == "end_turn"
    assert "text" in follow_up["output"]["message"]["content"][0]


def test_reasoning_streams_before_the_answer(runtime) -> None:
    events = list(runtime.converse_stream(
        modelId=SONNET_PROFILE, messages=[user("think [[tokens=3]]")],
        inferenceConfig={"maxTokens": 2048},
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )["stream"])
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    reasoning = [d for d in deltas if "reasoningContent" in d["delta"]]
    text = [d for d in deltas if "text" in d["delta"]]
    assert reasoning and all(d["contentBlockIndex"] == 0 for d in reasoning)
    assert "signature" in reasoning[-1]["delta"]["reasoningContent"]
    assert len(text) == 3 and all(d["contentBlockIndex"] == 1 for d in text)
    assert deltas.index(reasoning[-1]) < deltas.index(text[0])


def test_images_are_accepted_and_counted(runtime, bedrock) -> None:
    image = {"image": {"format": "png", "source": {"bytes": PNG_1x1}}}
    with_image = runtime.converse(modelId=HAIKU, messages=[
        {"role": "user", "content": [{"text": "describe [[echo=1]]"}, image]}])
    answer = with_image["output"]["message"]["content"][0]["text"]
    assert f"[image png {len(PNG_1x1)} bytes]" in answer  # the model saw the image
    without = runtime.converse(modelId=HAIKU, messages=[user("describe [[echo=1]]")])
    assert with_image["usage"]["inputTokens"] > without["usage"]["inputTokens"]

    bogus = {"image": {"format": "png", "source": {"bytes": b"not a png"}}}
    with pytest.raises(ClientError) as err:
        runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "x"}, bogus]}])
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_model_and_profile_ids_and_arns_are_accepted(runtime) -> None:
    for model_id in (HAIKU, f"us.{HAIKU}", f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}",
                     f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{SONNET_PROFILE}"):
        response = runtime.converse(modelId=model_id, messages=[user("hi [[tokens=1]]")])
        assert response["usage"]["outputTokens"] == 1


# ---- validation and errors ------------------------------------------------------------
TITAN = "amazon.titan-text-lite-v1"
IMAGE = {"image": {"format": "png", "source": {"bytes": PNG_1x1}}}
TOOL_TURNS = [
    user("x"),
    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}]}}]},
]
THINKING_100 = {"thinking": {"type": "enabled", "budget_tokens": 100}}
INVALID = [  # (case, modelId, request, error code, HTTP status)
    ("assistant first", HAIKU, {"messages": [assistant("hi"), user("x")]}, "ValidationException", 400),
    ("roles do not alternate", HAIKU, {"messages": [user("a"), user("b")]}, "ValidationException", 400),
    ("empty content", HAIKU, {"messages": [{"role": "user", "content": []}]}, "ValidationException", 400),
    ("blank text", HAIKU, {"messages": [user("   ")]}, "ValidationException", 400),
    ("temperature above 1", HAIKU,
     {"messages": [user("x")], "inferenceConfig": {"temperature": 2.0}}, "ValidationException", 400),
    ("maxTokens above the model limit", HAIKU,
     {"messages": [user("x")], "inferenceConfig": {"maxTokens": 100_000}}, "ValidationException", 400),
    ("tool blocks without toolConfig", HAIKU, {"messages": TOOL_TURNS}, "ValidationException", 400),
    ("image on a text-only model", NOVA,
     {"messages": [{"role": "user", "content": [IMAGE]}]}, "ValidationException", 400),
    ("thinking budget below 1024", SONNET_PROFILE,
     {"messages": [user("x")], "additionalModelRequestFields": THINKING_100}, "ValidationException", 400),
    ("system prompt on Titan", TITAN, {"messages": [user("x")], "system": [{"text": "s"}]}, "ValidationException", 400),
    ("context window exceeded", TITAN, {"messages": [user("word " * 5000)]}, "ValidationException", 400),
    ("profile-only model by id", "anthropic.claude-3-5-haiku-20241022-v1:0",
     {"messages": [user("x")]}, "ValidationException", 400),
    ("embedding model", "amazon.titan-embed-text-v2:0", {"messages": [user("x")]}, "ValidationException", 400),
    ("unknown model", "anthropic.claude-9", {"messages": [user("x")]}, "ResourceNotFoundException", 404),
]


@pytest.mark.parametrize("case, model_id, kwargs, code, status", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_requests_get_bedrocks_error(runtime, case, model_id, kwargs, code, status) -> None:
    for call in (runtime.converse, runtime.converse_stream):
        with pytest.raises(ClientError) as err:
            call(modelId=model_id, **kwargs)
        error = err.value.response
        assert error["Error"]["Code"] == code, error
        assert error["ResponseMetadata"]["HTTPStatusCode"] == status
        assert error["Error"]["Message"]


@pytest.mark.parametrize("code", sorted(set(ERROR_STATUS) - {"UnknownOperationException", "SerializationException"}))
def test_injected_errors_reach_botocore_with_code_and_status(runtime, bedrock, code) -> None:
    bedrock.state.faults.error(code, message=f"injected {code}")
    with pytest.raises(ClientError) as err:
        runtime.converse_stream(modelId=HAIKU, messages=[user("x")])
    assert err.value.response["Error"] == {"Code": code, "Message": f"injected {code}"}
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == ERROR_STATUS[code]


# ---- faults ---------------------------------------------------------------------------
def test_fail_twice_then_succeed(runtime, bedrock) -> None:
    bedrock.state.faults.error("ThrottlingException", times=2)
    for _ in range(2):
        with pytest.raises(ClientError, match="ThrottlingException"):
            runtime.converse(modelId=HAIKU, messages=[user("x")])
    assert runtime.converse(modelId=HAIKU, messages=[user("x [[tokens=1]]")])["stopReason"] == "end_turn"


def test_in_stream_exception_after_k_deltas(runtime, bedrock) -> None:
    bedrock.state.faults.midstream(after_deltas=2, code="ThrottlingException", message="slow")
    stream = runtime.converse_stream(modelId=HAIKU, messages=[user("x [[tokens=6]]")])["stream"]
    seen = []
    with pytest.raises(EventStreamError) as err:
        for event in stream:
            seen.append(event)
    assert [next(iter(e)) for e in seen] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    assert err.value.response["Error"] == {"Code": "throttlingException", "Message": "slow"}


def test_corrupted_frame_is_detected_by_the_client(runtime, bedrock) -> None:
    bedrock.state.faults.corrupt(after_deltas=1)
    stream = runtime.converse_stream(modelId=HAIKU, messages=[user("x [[tokens=4]]")])["stream"]
    with pytest.raises(ChecksumMismatch):
        list(stream)


def test_stall_before_first_byte_trips_the_read_timeout(bedrock) -> None:
    bedrock.state.faults.stall(4.0)
    client = boto_client("bedrock-runtime", bedrock.url, read_timeout=0.3)
    with pytest.raises(ReadTimeoutError):  # at the stall's end the answer would have come
        client.converse_stream(modelId=HAIKU, messages=[user("x")])


def test_faults_over_http(runtime, bedrock) -> None:
    def call(method: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{bedrock.url}/_emulator/faults", data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}

    status, fault = call("POST", {"kind": "error", "code": "ServiceUnavailableException", "times": 3})
    assert status == 201 and fault["times"] == 3
    assert call("GET")[1]["faults"][0]["code"] == "ServiceUnavailableException"
    with pytest.raises(ClientError, match="ServiceUnavailableException"):
        runtime.converse(modelId=HAIKU, messages=[user("x")])
    assert call("DELETE")[0] == 204
    assert runtime.converse(modelId=HAIKU, messages=[user("x [[tokens=1]]")])["stopReason"] == "end_turn"


def test_signatures_of_known_keys_are_checked(bedrock, monkeypatch) -> None:
    """boto3 signing right passes (every other test here); a wrong secret, or a signature
    scoped to another region, is refused as Bedrock refuses it; unknown keys pass."""
    def converse(region: str = "us-east-1") -> dict:
        client = boto_client("bedrock-runtime", bedrock.url, region=region)
        return client.converse(modelId=HAIKU, messages=[user("x [[tokens=1]]")])

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(ClientError) as err:
        converse()
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(ClientError, match="scoped to a valid region"):
        converse("eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone-else")
    assert converse()["stopReason"] == "end_turn"


def test_concurrent_streams_are_served_in_parallel(bedrock) -> None:
    # Overlap, not wall time: served one at a time, a stream would start only after another ended.
    client = boto_client("bedrock-runtime", bedrock.url)
    texts: list[str] = []
    first_deltas: list[float] = []
    ends: list[float] = []
    barrier = threading.Barrier(8)

    def one(i: int) -> None:  # 40 tokens at 50/s: at least 0.8 s each
        barrier.wait(5)
        stream = client.converse_stream(modelId=HAIKU, messages=[user(f"n{i} [[tokens=40]] [[rate=50]]")])["stream"]
        deltas = []
        for event in stream:
            if "contentBlockDelta" in event:
                if not deltas:
                    first_deltas.append(time.monotonic())
                deltas.append(event["contentBlockDelta"]["delta"]["text"])
        ends.append(time.monotonic())
        texts.append("".join(deltas))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(texts) == 8 and all(len(t.split()) == 40 for t in texts)
    assert max(first_deltas) < min(ends)  # every stream was under way before any ended


# ---- control plane --------------------------------------------------------------------
def test_list_foundation_models_with_filters(control) -> None:
    everything = control.list_foundation_models()["modelSummaries"]
    summary = next(m for m in everything if m["modelId"] == HAIKU)
    assert summary["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
    assert summary["providerName"] == "Anthropic" and summary["inputModalities"] == ["TEXT", "IMAGE"]
    assert summary["responseStreamingSupported"] is True
    assert summary["inferenceTypesSupported"] == ["ON_DEMAND", "INFERENCE_PROFILE"]
    assert summary["modelLifecycle"] == {"status": "ACTIVE"}

    text = control.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
    assert text and all(m["outputModalities"] == ["TEXT"] for m in text)
    embeddings = control.list_foundation_models(byOutputModality="EMBEDDING")["modelSummaries"]
    assert [m["modelId"] for m in embeddings] == ["amazon.titan-embed-text-v2:0"]
    anthropic = control.list_foundation_models(byProvider="anthropic")["modelSummaries"]
    assert anthropic and {m["providerName"] for m in anthropic} == {"Anthropic"}
    on_demand = control.list_foundation_models(byInferenceType="ON_DEMAND")["modelSummaries"]
    assert "anthropic.claude-3-5-haiku-20241022-v1:0" not in {m["modelId"] for m in on_demand}
    assert control.list_foundation_models(byInferenceType="PROVISIONED")["modelSummaries"] == []
    with pytest.raises(ClientError, match="ValidationException"):
        control.list_foundation_models(byOutputModality="SMELL")


def test_list_inference_profiles_pages_and_filters(control, runtime) -> None:
    pages = list(control.get_paginator("list_inference_profiles").paginate(
        typeEquals="SYSTEM_DEFINED", PaginationConfig={"PageSize": 2}))
    assert len(pages) > 1 and all(len(p["inferenceProfileSummaries"]) <= 2 for p in pages)
    profiles = [s for p in pages for s in p["inferenceProfileSummaries"]]
    assert len({p["inferenceProfileId"] for p in profiles}) == len(profiles)
    assert profiles == control.list_inference_profiles()["inferenceProfileSummaries"]
    haiku = next(p for p in profiles if p["inferenceProfileId"] == f"us.{HAIKU}")
    assert haiku["status"] == "ACTIVE" and haiku["type"] == "SYSTEM_DEFINED"
    assert f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}" in [m["modelArn"] for m in haiku["models"]]
    assert not any(p["inferenceProfileId"].startswith("eu.") for p in profiles)  # us-east-1 only
    assert control.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []
    for profile in profiles:  # every listed profile is usable as a modelId
        assert runtime.converse(modelId=profile["inferenceProfileId"], messages=[user("x [[tokens=1]]")])
    with pytest.raises(ClientError, match="ValidationException"):
        control.list_inference_profiles(nextToken="garbage!")


# ---- the real local model -------------------------------------------------------------
@pytest.mark.slow
def test_a_local_gguf_model_answers_through_converse_stream(aws_env) -> None:
    from local.bedrock import EmulatorServer, create_app
    from local.models import ModelStore, default_models_dir

    installed = ModelStore(default_models_dir()).get("smollm2:135m")
    if installed is None:
        pytest.skip("smollm2:135m is not installed (python -m local.models fetch)")
    with EmulatorServer(create_app(gguf_path=installed.path)) as server:
        client = boto_client("bedrock-runtime", server.url, read_timeout=60)
        events = list(client.converse_stream(
            modelId="local.smollm2-135m", system=[{"text": "You are a helpful assistant."}],
            messages=[user("What is the capital of France? Answer in one sentence.")],
            inferenceConfig={"maxTokens": 40, "temperature": 0.0},
        )["stream"])
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        assert "Paris" in text
        usage = events[-1]["metadata"]["usage"]
        assert usage["inputTokens"] > 10 and 0 < usage["outputTokens"] <= 40
        # Few words but many tokens: passes the word-count check, then trips llama.cpp's own.
        long_words = user("antidisestablishmentarianism " * 2500)
        with pytest.raises(ClientError, match="Input is too long"):
            client.converse(modelId="local.smollm2-135m", messages=[long_words])

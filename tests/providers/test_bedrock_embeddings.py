"""Bedrock embeddings: the emulator's InvokeModel for Amazon Titan Text Embeddings V2
(through real boto3 `invoke_model`) and `BedrockProvider.embed` on top of it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from local.bedrock.invoke import normalise, resize
from local.engines import deterministic_vector
from omnichat.providers.errors import (
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    ProviderUnavailable,
    Throttled,
)
from tests.providers.conftest_bedrock import (  # noqa: F401  (fixtures)
    aws_env,
    bedrock,
    bedrock_server,
    closed_port,
    control,
    run,
    runtime,
)
from tests.providers.test_bedrock_provider import provider_for

TITAN = "amazon.titan-embed-text-v2:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def invoke(runtime: Any, body: Any, model: str = TITAN, **kwargs: Any) -> tuple[dict, dict]:
    response = runtime.invoke_model(modelId=model, body=json.dumps(body), **kwargs)
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def expected(text: str, dimensions: int = 1024, normalize: bool = True) -> list[float]:
    vector = resize(deterministic_vector(text), dimensions)
    return normalise(vector) if normalize else vector


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


# ---- the emulator ------------------------------------------------------------------------
def test_invoke_model_returns_a_normalised_1024_vector_and_token_count(bedrock, runtime) -> None:
    body, headers = invoke(runtime, {"inputText": "the cat sat on the mat"}, contentType="application/json",
                           accept="application/json")
    assert body["embedding"] == expected("the cat sat on the mat")
    assert len(body["embedding"]) == 1024
    assert math.isclose(sum(v * v for v in body["embedding"]), 1.0, rel_tol=1e-9)
    assert body["inputTextTokenCount"] == 6 == int(headers["x-amzn-bedrock-input-token-count"])
    assert body["embeddingsByType"] == {"float": body["embedding"]}
    assert bedrock.state.journal.last("InvokeModel") == {
        "operation": "InvokeModel", "modelId": TITAN, "body": {"inputText": "the cat sat on the mat"}}


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_dimensions_normalize_and_binary(bedrock, runtime, dimensions) -> None:
    body, _ = invoke(runtime, {"inputText": "hello world", "dimensions": dimensions, "normalize": False,
                               "embeddingTypes": ["float", "binary"]})
    assert body["embedding"] == expected("hello world", dimensions, normalize=False)
    assert body["embeddingsByType"]["binary"] == [1 if v > 0 else 0 for v in body["embedding"]]


def test_resize_keeps_the_engine_s_similarities() -> None:
    a, b = deterministic_vector("red apples and pears"), deterministic_vector("red apples and plums")
    for dimensions in (256, 512, 1024):
        assert math.isclose(cosine(resize(a, dimensions), resize(b, dimensions)), cosine(a, b), rel_tol=1e-9)
    assert resize(a, 32) == a[:32]  # a bigger engine vector is cut


def test_same_text_same_vector_and_profile_arn_resolves(bedrock, runtime) -> None:
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{TITAN}"
    assert invoke(runtime, {"inputText": "x y"})[0] == invoke(runtime, {"inputText": "x y"}, model=arn)[0]


@pytest.mark.parametrize("body, needle", [
    ({}, "required key [inputText] not found"),
    ({"inputText": ""}, "expected minLength: 1"),
    ({"inputText": 5}, "expected type: String"),
    ({"inputText": "x", "dimensions": 300}, "300 is not a valid enum value"),
    ({"inputText": "x", "dimensions": True}, "not a valid enum value"),
    ({"inputText": "x", "normalize": "yes"}, "expected type: Boolean"),
    ({"inputText": "x", "embeddingTypes": ["int8"]}, "not a valid enum value"),
    ({"inputText": "x", "embeddingTypes": []}, "minimum item count"),
    ({"inputText": "x", "temperature": 1}, "extraneous key [temperature]"),
    ({"inputText": "x" * 50_001}, "expected maxLength: 50000"),
    ({"inputText": "a " * 8193}, "Too many input tokens. Max input tokens: 8192"),
    (["x"], "expected type: JSONObject"),
])
def test_validation_errors(bedrock, runtime, body, needle) -> None:
    with pytest.raises(runtime.exceptions.ValidationException) as caught:
        invoke(runtime, body)
    assert needle in str(caught.value)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_model_text_model_and_bad_content_type(bedrock, runtime) -> None:
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        invoke(runtime, {"inputText": "x"}, model="amazon.titan-embed-text-v9:0")
    with pytest.raises(runtime.exceptions.ValidationException, match="only emulated for text embedding"):
        invoke(runtime, {"inputText": "x"}, model=HAIKU)
    with pytest.raises(runtime.exceptions.ValidationException, match="Accept"):
        invoke(runtime, {"inputText": "x"}, accept="image/png")


def test_faults_apply_to_invoke_model(bedrock, runtime) -> None:
    bedrock.state.faults.error("ThrottlingException")
    with pytest.raises(runtime.exceptions.ThrottlingException):
        invoke(runtime, {"inputText": "x"})
    bedrock.state.faults.error("ServiceUnavailableException", operations=frozenset({"Converse"}))
    assert invoke(runtime, {"inputText": "x"})[0]["inputTextTokenCount"] == 1  # aimed elsewhere


def test_embedding_model_is_listed_only_by_embedding_modality(bedrock, control) -> None:
    embedding = control.list_foundation_models(byOutputModality="EMBEDDING")["modelSummaries"]
    [titan] = [m for m in embedding if m["modelId"] == TITAN]
    assert (titan["outputModalities"], titan["inputModalities"]) == (["EMBEDDING"], ["TEXT"])
    assert titan["responseStreamingSupported"] is False and titan["inferenceTypesSupported"] == ["ON_DEMAND"]
    text = control.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
    assert TITAN not in {m["modelId"] for m in text}


# ---- the provider ------------------------------------------------------------------------
def test_provider_embeds_each_input_with_one_call(bedrock) -> None:
    texts = [f"text number {i}" for i in range(20)]
    vectors, tokens = run(lambda: provider_for(bedrock.url).embed(TITAN, texts))
    assert vectors == [expected(t) for t in texts] and tokens == 60
    calls = bedrock.state.journal.entries("InvokeModel")
    assert sorted(c["body"]["inputText"] for c in calls) == sorted(texts)
    assert all(c["body"] == {"inputText": c["body"]["inputText"]} for c in calls)


def test_provider_passes_dimensions_through(bedrock) -> None:
    vectors, tokens = run(lambda: provider_for(bedrock.url).embed(TITAN, ["hi there"], dimensions=256))
    assert vectors == [expected("hi there", 256)] and tokens == 2
    assert bedrock.state.journal.last("InvokeModel")["body"] == {"inputText": "hi there", "dimensions": 256}
    with pytest.raises(InvalidRequest, match="not a valid enum value"):
        run(lambda: provider_for(bedrock.url).embed(TITAN, ["hi"], dimensions=300))


def test_provider_calls_run_concurrently(bedrock) -> None:
    """Each call stalls in the emulator; when the first answer comes back, all four requests
    had already reached it (one at a time, the first would return before the second was sent)."""
    bedrock.state.faults.stall(0.5, times=4, operations=frozenset({"InvokeModel"}))
    provider = provider_for(bedrock.url)
    client, arrived_when_returned = provider.client(), []
    send, before = client.call, len(bedrock.state.journal.entries("InvokeModel"))

    def observed(*args: Any, **kwargs: Any) -> Any:
        result = send(*args, **kwargs)
        arrived_when_returned.append(len(bedrock.state.journal.entries("InvokeModel")) - before)
        return result

    client.call = observed  # type: ignore[method-assign]
    vectors, _ = run(lambda: provider.embed(TITAN, ["a", "b", "c", "d"]))
    assert len(vectors) == 4 and arrived_when_returned == [4, 4, 4, 4]


def test_provider_refuses_chat_models_without_calling_bedrock(bedrock) -> None:
    with pytest.raises(InvalidRequest, match="does not support embeddings"):
        run(lambda: provider_for(bedrock.url).embed(HAIKU, ["x"]))
    with pytest.raises(InvalidRequest, match="does not accept 'dimensions'"):
        run(lambda: provider_for(bedrock.url).embed("amazon.titan-embed-text-v1", ["x"], dimensions=256))
    assert bedrock.state.journal.entries("InvokeModel") == []


def test_provider_errors_are_typed(bedrock) -> None:
    provider = provider_for(bedrock.url)
    with pytest.raises(ModelNotFound):
        run(lambda: provider.embed("amazon.titan-embed-text-v9:0", ["x"]))
    with pytest.raises(InvalidRequest, match="minLength"):
        run(lambda: provider.embed(TITAN, [""]))
    with pytest.raises(ContextTooLong):
        run(lambda: provider.embed(TITAN, ["a " * 9000]))


def test_throttling_is_retried_then_exhausted(bedrock) -> None:
    bedrock.state.faults.error("ThrottlingException", times=1)
    vectors, _ = run(lambda: provider_for(bedrock.url, provider_max_attempts=2).embed(TITAN, ["x"]))
    assert len(vectors) == 1 and len(bedrock.state.journal.entries("InvokeModel")) == 2
    bedrock.state.faults.error("ThrottlingException", times=5)
    with pytest.raises(Throttled) as caught:
        run(lambda: provider_for(bedrock.url, provider_max_attempts=2).embed(TITAN, ["x"]))
    assert caught.value.status == 429 and caught.value.provider == "bedrock"


def test_backend_down_is_provider_unavailable(aws_env) -> None:
    provider = provider_for(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ProviderUnavailable):
        run(lambda: provider.embed(TITAN, ["x"]))

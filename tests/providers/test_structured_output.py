"""Structured output below the gateway: the bundled Ollama-compatible server honours
`format` ("json" or a JSON schema) in /api/chat and /api/generate (official `ollama`
client; the real SmolLM2 model under a llama.cpp grammar in the slow test); the Bedrock
emulator honours a forced toolChoice and refuses it where Bedrock does (boto3); the
Bedrock provider turns a forced answer tool back into text; and the deterministic values
made from schemas conform to them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import ollama
import pytest
from botocore.exceptions import ClientError
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from local.schema_instance import instance
from local.serve import ServerThread
from omnichat.providers.bedrock import converse_params
from omnichat.providers.errors import InvalidRequest
from omnichat.providers.structured import bedrock_forcing, bedrock_mode
from omnichat.providers.types import ChatRequest, Finish, Message, ResponseFormat, TextDelta, ToolUseDelta
from tests.providers.conftest import SMOL, TEST_MODEL
from tests.providers.conftest_bedrock import (  # noqa: F401  (fixtures)
    aws_env,
    bedrock,
    bedrock_server,
    boto_client,
    collect,
    run,
    runtime,
    user,
)
from tests.providers.test_bedrock_provider import provider_for

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-micro-v1:0"
LLAMA31 = "meta.llama3-1-8b-instruct-v1:0"

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "languages": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    },
    "required": ["name", "age", "languages"],
    "additionalProperties": False,
}


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    return not list(Draft202012Validator(schema).iter_errors(value))


# ---- values made from schemas ----------------------------------------------------------------
@pytest.mark.parametrize("schema", [
    PERSON,
    {"type": "string", "format": "date-time"},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"const": "x"}], "minItems": 2},
    {"type": "integer", "minimum": 10, "multipleOf": 7},
    {"type": "number", "exclusiveMinimum": 5, "maximum": 6},
    {"type": ["null", "boolean"]},
    {"$defs": {"n": {"type": "integer"}}, "anyOf": [{"$ref": "#/$defs/n"}, {"type": "string", "minLength": 3,
                                                                             "maxLength": 4}]},
    {"$defs": {"tree": {"type": "object", "required": ["leaf"], "properties": {
        "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
        "leaf": {"anyOf": [{"$ref": "#/$defs/tree"}, {"type": "null"}]}}}}, "$ref": "#/$defs/tree"},
    {"allOf": [{"type": "object", "properties": {"a": {"enum": [1, 2]}}, "required": ["a"]},
               {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
    {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
])
def test_made_values_conform_and_repeat(schema: dict[str, Any]) -> None:
    value = instance(schema, seed="a prompt")
    assert conforms(value, schema), value
    assert instance(schema, seed="a prompt") == value


# ---- the bundled Ollama-compatible server ------------------------------------------------------
@pytest.fixture
def client(det_server: ServerThread) -> ollama.Client:
    return ollama.Client(host=det_server.url, timeout=30)


class Person(BaseModel):
    name: str
    age: int
    languages: list[str]


@pytest.mark.parametrize("stream", [False, True])
def test_chat_format_schema_with_the_ollama_client(client: ollama.Client, stream: bool) -> None:
    messages = [{"role": "user", "content": "Who are you?"}]
    schema = Person.model_json_schema()
    if stream:
        text = "".join(c.message.content or "" for c in client.chat(TEST_MODEL, messages, format=schema, stream=True))
    else:
        text = client.chat(TEST_MODEL, messages, format=schema).message.content or ""
    person = Person.model_validate_json(text)  # what the client's users do with it
    assert person.model_dump() == instance(schema, seed="Who are you?")


def test_generate_format_json_is_one_json_object(client: ollama.Client) -> None:
    out = client.generate(TEST_MODEL, "Say it in JSON [[tokens=4]]", format="json")
    assert out.done and len(json.loads(out.response)["answer"].split()) == 4
    # num_predict cuts the JSON short, as it would any answer: done_reason says so.
    cut = client.generate(TEST_MODEL, "Say it in JSON [[tokens=4]]", format="json", options={"num_predict": 2})
    assert cut.done_reason == "length" and len(cut.response) == 8


@pytest.mark.parametrize(("fmt", "says"), [
    ("yaml", "invalid format"),
    (["json"], "invalid format"),
    ({"type": "wizard"}, "invalid JSON schema in format"),
    ({"properties": {"a": {"minimum": "zero"}}}, "invalid JSON schema in format"),
])
def test_a_bad_format_is_a_400(det_server: ServerThread, fmt: Any, says: str) -> None:
    """Over plain HTTP: the official client refuses to send most of these."""
    for path, body in (("/api/chat", {"messages": [{"role": "user", "content": "x"}]}), ("/api/generate",
                                                                                         {"prompt": "x"})):
        r = httpx.post(det_server.url + path, json={"model": TEST_MODEL, "format": fmt, **body}, timeout=10)
        assert r.status_code == 400 and says in r.json()["error"], r.text


@pytest.mark.slow
def test_real_model_answers_parseable_json_under_a_grammar(real_server: ServerThread) -> None:
    """SmolLM2-135M is far too small to follow a schema by itself: the grammar makes it."""
    client = ollama.Client(host=real_server.url, timeout=120)
    messages = [{"role": "user", "content": "Describe a person who speaks French."}]
    options = {"temperature": 0, "num_predict": 200}
    answer = client.chat(SMOL, messages, format=PERSON, options=options)
    assert answer.done_reason == "stop", answer.message.content
    assert conforms(json.loads(answer.message.content or ""), PERSON)
    streamed = "".join(c.message.content or "" for c in client.chat(SMOL, messages, format="json", stream=True,
                                                                   options=options))
    json.loads(streamed)
    with pytest.raises(ollama.ResponseError) as err:  # beyond the grammar converter, which never fetches
        client.chat(SMOL, messages, format={"$ref": "https://example.com/person.json"})
    assert err.value.status_code == 400 and "invalid JSON schema in format" in err.value.error


# ---- the Bedrock emulator: toolChoice ----------------------------------------------------------
def answer_tool(schema: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [{"toolSpec": {"name": "person", "inputSchema": {"json": schema}}}],
            "toolChoice": {"tool": {"name": "person"}}}


def test_emulator_forced_tool_answers_with_the_call_only(runtime) -> None:  # noqa: F811  (a fixture)
    whole = runtime.converse(modelId=HAIKU, messages=[user("Who? [[tokens=5]]")], toolConfig=answer_tool(PERSON))
    assert whole["stopReason"] == "tool_use"
    [block] = whole["output"]["message"]["content"]  # no text first: "no text is generated"
    assert block["toolUse"]["name"] == "person" and conforms(block["toolUse"]["input"], PERSON)
    events = list(runtime.converse_stream(modelId=HAIKU, messages=[user("Who? [[tokens=5]]")],
                                          toolConfig=answer_tool(PERSON))["stream"])
    pieces = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert json.loads("".join(pieces)) == block["toolUse"]["input"]  # repeatable


@pytest.mark.parametrize(("model", "choice", "field"), [
    (LLAMA31, {"tool": {"name": "person"}}, "toolChoice.tool"),
    (LLAMA31, {"any": {}}, "toolChoice.any"),
    (NOVA, {"any": {}}, "toolChoice.any"),
])
def test_emulator_refuses_a_tool_choice_the_model_does_not_honour(runtime, model: str, choice: dict[str, Any],  # noqa: F811  (a fixture)
                                                                   field: str) -> None:
    config = {**answer_tool(PERSON), "toolChoice": choice}
    with pytest.raises(ClientError) as err:
        runtime.converse(modelId=model, messages=[user("x")], toolConfig=config)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert f"doesn't support the toolConfig.{field} field" in err.value.response["Error"]["Message"]
    runtime.converse(modelId=model, messages=[user("x")], toolConfig={**config, "toolChoice": {"auto": {}}})


def test_emulator_refuses_thinking_with_a_forced_tool(runtime) -> None:  # noqa: F811  (a fixture)
    with pytest.raises(ClientError, match="Thinking may not be enabled when tool_choice forces tool use"):
        runtime.converse(modelId="us.anthropic.claude-3-7-sonnet-20250219-v1:0", messages=[user("x")],
                         toolConfig=answer_tool(PERSON), inferenceConfig={"maxTokens": 2048},
                         additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}})


HAIKU45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def text_format(schema: Any) -> dict[str, Any]:
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"name": "person", "schema": schema}}}}


def test_emulator_native_structured_output(runtime) -> None:  # noqa: F811  (a fixture)
    answer = runtime.converse(modelId=HAIKU45, messages=[user("Who?")], outputConfig=text_format(json.dumps(PERSON)))
    assert answer["stopReason"] == "end_turn"
    assert json.loads(answer["output"]["message"]["content"][0]["text"]) == instance(PERSON, seed="Who?")
    for model, config, says in (
        (HAIKU, text_format(json.dumps(PERSON)), "doesn't support the outputConfig.textFormat field"),
        (HAIKU45, text_format("{not json"), "must be a JSON schema object"),
    ):
        with pytest.raises(ClientError, match=says):
            runtime.converse(modelId=model, messages=[user("x")], outputConfig=config)


# ---- the Bedrock provider ----------------------------------------------------------------------
def structured(model: str, fmt: ResponseFormat, **kwargs: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message.text("user", "Who?"),), response_format=fmt, **kwargs)


def test_provider_streams_the_forced_tool_input_as_text(bedrock) -> None:  # noqa: F811  (a fixture)
    events = run(lambda: collect(provider_for(bedrock.url).stream_chat(
        structured(NOVA, ResponseFormat("json_schema", PERSON, "person")))))
    assert not any(isinstance(e, ToolUseDelta) for e in events)
    assert sum(isinstance(e, TextDelta) for e in events) > 1  # streamed in pieces, as Bedrock sends them
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.stop_reason == "end_turn" and finish.usage.output_tokens > 0
    assert conforms(json.loads("".join(e.text for e in events if isinstance(e, TextDelta))), PERSON)


def test_forcing_table_and_its_refusals() -> None:
    assert bedrock_forcing("us.anthropic.claude-sonnet-4-5-20250929-v1:0") == "tool"
    assert bedrock_forcing("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0") == "tool"
    assert bedrock_forcing("mistral.mistral-large-2407-v1:0") == "any"
    assert bedrock_mode("global.anthropic.claude-sonnet-4-5-20250929-v1:0") == "native"
    assert bedrock_mode("anthropic.claude-opus-4-6-v1") == "native"
    assert bedrock_mode("anthropic.claude-sonnet-4-20250514-v1:0") == "tool"  # 4, not 4.5: forced tool
    assert bedrock_mode("anthropic.claude-opus-4-1-20250805-v1:0") == "tool"
    for model in (LLAMA31, "amazon.titan-text-lite-v1", "anthropic.claude-v2:1", "cohere.command-r-v1:0"):
        assert bedrock_forcing(model) is None
    params = converse_params(structured("mistral.mistral-large-2407-v1:0", ResponseFormat("json")))
    assert params["toolConfig"]["toolChoice"] == {"any": {}}
    for request in (structured(LLAMA31, ResponseFormat("json")),
                    structured(HAIKU, ResponseFormat("json_schema", {"type": "array"}, "list"))):
        with pytest.raises(InvalidRequest) as err:  # what a caller other than /v1 meets
            converse_params(request)
        assert request.model in err.value.message

"""Structured output through the gateway with the official `openai` SDK: `response_format`
`json_object` and `json_schema` (strict or not) on an Ollama model (the bundled server's
deterministic engine, which answers with a value made from the schema) and on Bedrock
models through the emulator (a forced tool call, streamed back as text), streaming and
not; and the 400s for what cannot be honoured."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from local import models
from local.ollama import create_app as ollama_app
from local.schema_instance import instance
from local.serve import ServerThread
from omnichat.catalog import catalog
from tests.ollama_server import cache_dir
from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, sdk, usage_rows

NOVA_MODEL = "bedrock/amazon.nova-micro-v1:0"
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
NO_FORCING_MODEL = "bedrock/meta.llama3-1-8b-instruct-v1:0"  # tools, but no forced tool choice
NO_TOOLS_MODEL = "bedrock/us.meta.llama3-2-1b-instruct-v1:0"

CITY = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "population": {"type": "integer", "minimum": 0},
        "coast": {"type": "boolean"},
        "districts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "climate": {"type": "string", "enum": ["arid", "temperate", "tropical"]},
    },
    "required": ["name", "population", "coast", "districts", "climate"],
    "additionalProperties": False,
}


def schema_format(schema: dict[str, Any], name: str = "city", strict: bool = False) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def streamed_text(stream: Any) -> tuple[str, str | None, bool]:
    """(the content, the finish reason, whether any chunk carried tool calls)."""
    parts, finish, tool_calls = [], None, False
    for chunk in stream:
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            tool_calls = tool_calls or bool(choice.delta.tool_calls)
            finish = choice.finish_reason or finish
    return "".join(parts), finish, tool_calls


def answer(oai: Any, stream: bool, **kwargs: Any) -> tuple[str, str | None, bool]:
    """One completion, streamed or not: (the content, the finish reason, whether it carried tool calls)."""
    if stream:
        return streamed_text(oai.chat.completions.create(**kwargs, stream=True))
    r = oai.chat.completions.create(**kwargs)
    return r.choices[0].message.content, r.choices[0].finish_reason, bool(r.choices[0].message.tool_calls)


# ---- Ollama: `format` ----------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_ollama_json_schema_answer_is_the_schemas_value(oai, stream):
    prompt = "Describe a city."
    content, finish, _ = answer(oai, stream, model=OLLAMA_MODEL, messages=ask(prompt),
                                response_format=schema_format(CITY))
    value = json.loads(content)
    assert finish == "stop" and not list(Draft202012Validator(CITY).iter_errors(value))
    assert value == instance(CITY, seed=prompt)  # the schema reached the server as Ollama's `format`


def test_ollama_json_object_answer_is_a_json_object(oai, db_url):
    r = oai.chat.completions.create(model=OLLAMA_MODEL, messages=ask("hello [[tokens=3]]"),
                                    response_format={"type": "json_object"})
    value = json.loads(r.choices[0].message.content)
    assert isinstance(value, dict) and len(value["answer"].split()) == 3
    assert [row.outcome for row in usage_rows(db_url)] == ["complete"]


def test_sdk_parse_with_a_pydantic_model(oai):
    class Weather(BaseModel):
        city: str
        celsius: float
        sunny: bool

    r = oai.chat.completions.parse(model=OLLAMA_MODEL, messages=ask("Weather in Oslo?"), response_format=Weather)
    parsed = r.choices[0].message.parsed
    assert isinstance(parsed, Weather) and parsed.city


# ---- Bedrock: a forced tool call ------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_bedrock_json_schema_is_a_forced_tool_answered_as_text(oai, backends, stream):
    content, finish, tool_calls = answer(oai, stream, model=BEDROCK_MODEL, messages=ask("Describe Lisbon."),
                                         response_format=schema_format(CITY))
    value = json.loads(content)
    assert not list(Draft202012Validator(CITY).iter_errors(value))
    assert finish == "stop" and not tool_calls  # content, not a tool call, for the client
    config = backends.emulator.journal.last("ConverseStream")["body"]["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "city"}}
    assert [t["toolSpec"]["inputSchema"]["json"] for t in config["tools"]] == [CITY]


NATIVE_MODEL = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"  # outputConfig.textFormat


@pytest.mark.parametrize("stream", [False, True])
def test_bedrock_native_structured_output_is_plain_text(oai, backends, stream):
    content, finish, _ = answer(oai, stream, model=NATIVE_MODEL, messages=ask("Describe Porto."),
                                response_format=schema_format(CITY))
    assert finish == "stop" and json.loads(content) == instance(CITY, seed="Describe Porto.")
    sent = backends.emulator.journal.last("ConverseStream")["body"]
    text_format = sent["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema" and "toolConfig" not in sent
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == CITY  # a JSON string, as Converse takes it


def test_bedrock_native_structured_output_keeps_tools_and_thinking(oai, backends):
    r = oai.chat.completions.create(model=NATIVE_MODEL, messages=ask("x"), tools=[TOOL], reasoning_effort="low",
                                    response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    assert r.choices[0].message.reasoning_content  # type: ignore[attr-defined]
    sent = backends.emulator.journal.last("ConverseStream")["body"]
    assert [t["toolSpec"]["name"] for t in sent["toolConfig"]["tools"] if "toolSpec" in t] == ["f"]
    assert "thinking" in sent["additionalModelRequestFields"] and "outputConfig" in sent


def test_bedrock_json_object_on_nova(oai, backends):
    r = oai.chat.completions.create(model=NOVA_MODEL, messages=ask("Any JSON"), response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    config = backends.emulator.journal.last("ConverseStream")["body"]["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "json_response"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"]["json"] == {"type": "object"}


def test_bedrock_structured_output_turns_thinking_off(oai, backends):
    """Anthropic refuses thinking with a forced tool: the JSON answer wins."""
    r = oai.chat.completions.create(model="bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                                    reasoning_effort="low", messages=ask("x"), response_format=schema_format(CITY))
    assert json.loads(r.choices[0].message.content)["climate"] in ("arid", "temperate", "tropical")
    assert "thinking" not in json.dumps(backends.emulator.journal.last("ConverseStream")["body"])


# ---- strict -----------------------------------------------------------------------------
# The emulated models do not search for a `pattern`: their value breaks this schema.
DIGITS = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[0-9]{4}$"}}, "required": ["code"]}


def test_strict_schema_passes_a_conforming_answer(oai):
    r = oai.chat.completions.create(model=BEDROCK_MODEL, messages=ask("x"), response_format=schema_format(
        CITY, strict=True))
    assert json.loads(r.choices[0].message.content)["population"] >= 0


def test_non_strict_schema_passes_an_answer_as_it_comes(oai):
    r = oai.chat.completions.create(model=OLLAMA_MODEL, messages=ask("x"), response_format=schema_format(DIGITS))
    assert set(json.loads(r.choices[0].message.content)) == {"code"}


@pytest.mark.parametrize("model", [OLLAMA_MODEL, BEDROCK_MODEL])
def test_strict_schema_refuses_a_non_conforming_answer(oai, db_url, model):
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(model=model, messages=ask("x"), response_format=schema_format(
            DIGITS, "digits", strict=True))
    assert caught.value.code == "invalid_model_output"
    assert "'digits'" in caught.value.message and "code" in caught.value.message
    assert [row.outcome for row in usage_rows(db_url)] == ["error"]


def test_strict_schema_mismatch_mid_stream_is_an_error_event(oai):
    stream = oai.chat.completions.create(model=OLLAMA_MODEL, messages=ask("x"), stream=True,
                                         response_format=schema_format(DIGITS, "digits", strict=True))
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received) and "'digits'" in caught.value.message  # the text came, then the error


# ---- what cannot be honoured: 400s naming the parameter ---------------------------------
@pytest.mark.parametrize(("model", "extra", "param", "says"), [
    (NO_FORCING_MODEL, {"response_format": {"type": "json_object"}}, "response_format", NO_FORCING_MODEL),
    (NO_TOOLS_MODEL, {"response_format": schema_format(CITY)}, "response_format", NO_TOOLS_MODEL),
    (BEDROCK_MODEL, {"response_format": {"type": "json_object"}, "tools": [TOOL]}, "response_format", "tools"),
    (BEDROCK_MODEL, {"response_format": schema_format({"type": "array"})}, "response_format.json_schema.schema",
     "object"),
    (OLLAMA_MODEL, {"response_format": schema_format({"type": "wizard"})}, "response_format.json_schema.schema",
     "not a valid JSON schema"),
    (OLLAMA_MODEL, {"response_format": schema_format({"properties": {"a": {"minimum": "zero"}}})},
     "response_format.json_schema.schema", "properties/a/minimum"),
    (OLLAMA_MODEL, {"response_format": schema_format([1, 2])}, "response_format.json_schema.schema", "JSON object"),
    (OLLAMA_MODEL, {"response_format": schema_format({"$ref": "https://example.com/city.json"})},
     "response_format.json_schema.schema", "not fetched"),
    (BEDROCK_MODEL, {"response_format": schema_format({"type": "object", "properties": {
        "a": {"$ref": "#/$defs/missing"}}})}, "response_format.json_schema.schema", "points to nothing"),
    (OLLAMA_MODEL, {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
     "response_format.json_schema.schema", "Missing"),
    (OLLAMA_MODEL, {"response_format": {"type": "json_schema"}}, "response_format.json_schema", "Missing"),
    (OLLAMA_MODEL, {"response_format": schema_format(CITY, name="no spaces allowed")},
     "response_format.json_schema.name", "name"),
    (OLLAMA_MODEL, {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {},
                                                                               "strict": "yes"}}},
     "response_format.json_schema.strict", "boolean"),
    (OLLAMA_MODEL, {"response_format": {"type": "yaml"}}, "response_format.type", "json_schema"),
])
def test_structured_output_that_cannot_be_honoured_is_a_400(oai, db_url, model, extra, param, says):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=model, messages=ask("x"), **extra)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param and body["type"] == "invalid_request_error", body
    assert says in body["message"], body
    assert usage_rows(db_url) == []  # refused before any model call


# ---- the real model ----------------------------------------------------------------------
@pytest.mark.slow
def test_real_smollm2_gives_schema_json_through_the_gateway(live_settings, user, tmp_path):
    """SmolLM2-135M cannot follow a schema by itself: Ollama's `format`, a llama.cpp grammar
    in the bundled server, makes every answer parse, streamed or not."""
    pytest.importorskip("llama_cpp")
    models.fetch("smollm2:135m", tmp_path, cache_dir())
    from omnichat.openai_compat.app import create_app

    person = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    with ServerThread(ollama_app(tmp_path, num_ctx=2048)) as real:
        catalog.invalidate_cache()
        with ServerThread(create_app(live_settings.with_overrides(ollama_host=real.url))) as gw:
            client = sdk(gw, user.key).with_options(timeout=120.0)
            kwargs: dict[str, Any] = {"model": "ollama/smollm2:135m", "temperature": 0, "max_tokens": 120,
                                      "messages": ask("Invent a person: a name and an age.")}
            r = client.chat.completions.create(**kwargs, response_format=schema_format(person, "person", True))
            assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
            assert not list(Draft202012Validator(person).iter_errors(json.loads(r.choices[0].message.content)))
            content, finish, _ = streamed_text(client.chat.completions.create(
                **kwargs, stream=True, response_format={"type": "json_object"}))
            assert finish == "stop" and isinstance(json.loads(content), dict | list | str | int | float | bool)
    catalog.invalidate_cache()

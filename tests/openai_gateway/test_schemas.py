"""openai_compat.schemas: request bodies checked by hand, strictly, naming the parameter
at fault (what OpenAI's own API does)."""

from __future__ import annotations

import json

import pytest

from omnichat.openai_compat.errors import GatewayError
from omnichat.openai_compat.schemas import (
    ChatCompletionBody,
    EmbeddingsBody,
    FunctionDef,
    FunctionName,
    NamedToolChoice,
    StreamOptions,
    ToolDef,
    parse,
)

HELLO = [{"role": "user", "content": "hi"}]


def chat(**fields: object) -> ChatCompletionBody:
    return parse(ChatCompletionBody, json.dumps({"model": "ollama/m:1", "messages": HELLO, **fields}).encode())


def refused(body_type: type, raw: bytes) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        parse(body_type, raw)
    assert caught.value.status == 400
    return caught.value


def test_a_full_body_is_read_and_unknown_fields_are_ignored() -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "description": "d",
                                             "parameters": {"type": "object"}, "strict": True}}
    body = chat(stream=True, stream_options={"include_usage": True}, max_tokens=5, max_completion_tokens=6,
                temperature=1, top_p=0.5, stop=["x"], tools=[tool], reasoning_effort="low", n=1, logprobs=False,
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
                response_format={"type": "json_object"}, user="u-1", seed=7, parallel_tool_calls=False)
    assert body == ChatCompletionBody(
        model="ollama/m:1", messages=HELLO, stream=True, stream_options=StreamOptions(include_usage=True),
        max_tokens=5, max_completion_tokens=6, temperature=1.0, top_p=0.5, stop=["x"],
        tools=[ToolDef("function", FunctionDef("get_weather", "d", {"type": "object"}, True))],
        tool_choice=NamedToolChoice("function", FunctionName("get_weather")),
        reasoning_effort="low", n=1, logprobs=False, response_format={"type": "json_object"})
    assert isinstance(body.temperature, float)


def test_null_means_not_given() -> None:
    body = chat(stream=None, temperature=None, tools=None, tool_choice=None, stop=None)
    assert (body.stream, body.temperature, body.tools, body.tool_choice, body.stop) == (None, None, None, None, None)
    assert chat().stream is False and chat(tool_choice="auto").tool_choice == "auto"


@pytest.mark.parametrize(("fields", "param"), [
    ({"temperature": "0.5"}, "temperature"),  # strict: a string is not a number
    ({"temperature": True}, "temperature"),  # nor is a boolean
    ({"temperature": 2.5}, "temperature"),
    ({"stream": "true"}, "stream"),
    ({"max_tokens": 1.0}, "max_tokens"),  # an integer, not a float
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 32_001}, "max_tokens"),  # the platform's cap (chats/params.py), as on every surface
    ({"max_tokens": 10 ** 12}, "max_tokens"),
    ({"max_completion_tokens": 10 ** 30}, "max_completion_tokens"),
    ({"n": 0}, "n"),
    ({"model": ""}, "model"),
    ({"model": "m" * 301}, "model"),
    ({"model": 5}, "model"),
    ({"messages": []}, "messages"),
    ({"messages": ["hi"]}, "messages[0]"),
    ({"stop": [1]}, "stop[0]"),
    ({"stop": 3}, "stop"),
    ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
    ({"stream_options": []}, "stream_options"),
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
     "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}] * 129}, "tools"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"tool_choice": 1}, "tool_choice"),
    ({"tool_choice": {"type": "function", "function": {}}}, "tool_choice.function.name"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"response_format": "json"}, "response_format"),
])
def test_bad_values_name_their_parameter(fields: dict, param: str) -> None:
    error = refused(ChatCompletionBody, json.dumps({"model": "m", "messages": HELLO, **fields}).encode())
    assert error.param == param and error.code in ("invalid_value", "missing_required_parameter"), error.message
    assert param in error.message


def test_missing_fields_and_bodies_that_are_not_objects() -> None:
    error = refused(ChatCompletionBody, b'{"messages": [{"role": "user", "content": "hi"}]}')
    assert (error.param, error.code) == ("model", "missing_required_parameter")
    error = refused(ChatCompletionBody, b'{"model": "m", "messages": null}')
    assert (error.param, error.code) == ("messages", "missing_required_parameter")
    for raw in (b"", b"{nope", b"[1, 2]", b'"text"', b"null"):
        assert refused(ChatCompletionBody, raw).code == "invalid_json"


@pytest.mark.parametrize("given", ["one", ["a", "b"], [1, 2, 3], [[1, 2], [3]], []])
def test_embedding_inputs(given: object) -> None:
    body = parse(EmbeddingsBody, json.dumps({"model": "m", "input": given}).encode())
    assert body.input == given and body.encoding_format == "float" and body.dimensions is None


@pytest.mark.parametrize(("fields", "param"), [
    ({"input": 5}, "input"), ({"input": ["a", 1]}, "input"), ({"input": [[1, "2"]]}, "input"),
    ({"input": [True]}, "input"), ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"input": "x", "dimensions": 0}, "dimensions"), ({}, "input"),
])
def test_bad_embedding_bodies(fields: dict, param: str) -> None:
    assert refused(EmbeddingsBody, json.dumps({"model": "m", **fields}).encode()).param == param


def test_max_tokens_up_to_the_cap_is_taken() -> None:
    assert chat(max_tokens=32_000).max_tokens == 32_000 and chat(max_completion_tokens=1).max_completion_tokens == 1


@pytest.mark.parametrize("raw", [
    b'{"model": "m", "messages": ' + b"[" * 950 + b"]" * 950 + b"}",
    b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": "a\\u0000"}]}',
    b'{"model": "m", "messages": [], "max_tokens": ' + b"1" * 4301 + b"}",
    b'{"model": "m", "messages": [], "temperature": NaN}',
])
def test_documents_no_later_step_could_handle_are_invalid_json(raw: bytes) -> None:
    assert refused(ChatCompletionBody, raw).code == "invalid_json"


@pytest.mark.parametrize("text", ["a\ud800", "\udfff", "nul\x00"])
def test_the_shared_string_check_refuses_text_that_cannot_be_stored(text: str) -> None:
    """checks.string, used by /v1 bodies and WebSocket frames alike."""
    from omnichat.checks import Invalid, string

    with pytest.raises(Invalid) as caught:
        string()("content", text)
    assert caught.value.param == "content" and "NUL" in caught.value.describe()
    assert string()("content", "fine \U0001F600") == "fine \U0001F600"

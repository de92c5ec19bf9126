"""Chat completions through the gateway with the official `openai` SDK, against the Bedrock
emulator and the deterministic local Ollama: streaming and not, parameters reaching the
backend, tools round trip, images, reasoning and usage."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.openai_gateway.conftest import (
    BEDROCK_MODEL,
    OLLAMA_MODEL,
    THINKING_MODEL,
    png_1x1,
    sdk,
    usage_rows,
)

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def words(n: int) -> str:
    return f"[[tokens={n}]]"


@pytest.mark.parametrize("model", [BEDROCK_MODEL, OLLAMA_MODEL])
def test_non_streaming_answer_with_usage(oai, model, db_url, user):
    r = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": f"hello {words(6)}"}])
    choice = r.choices[0]
    assert r.object == "chat.completion" and r.model == model and r.id.startswith("chatcmpl-")
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert len(choice.message.content.split()) == 6
    assert r.usage.completion_tokens == 6 and r.usage.total_tokens == r.usage.prompt_tokens + 6
    [row] = usage_rows(db_url)
    assert (row.source, row.model, row.outcome, row.api_key_id, row.user_id) == (
        "gateway", model, "complete", user.key_id, user.account.id)
    assert row.output_tokens == 6 and row.input_tokens == r.usage.prompt_tokens and row.ttft_ms is not None


@pytest.mark.parametrize("model", [BEDROCK_MODEL, OLLAMA_MODEL])
def test_streaming_matches_non_streaming_and_ends_with_usage(oai, model, db_url):
    messages = [{"role": "user", "content": f"stream please {words(12)}"}]
    whole = oai.chat.completions.create(model=model, messages=messages).choices[0].message.content
    chunks = list(oai.chat.completions.create(model=model, messages=messages, stream=True,
                                              stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    *body, last = chunks
    assert last.choices == [] and last.usage.completion_tokens == 12  # the include_usage chunk
    assert all(c.usage is None for c in body)
    assert len({c.id for c in chunks}) == 1
    rows = usage_rows(db_url)
    assert [r.outcome for r in rows] == ["complete", "complete"] and rows[1].output_tokens == 12


def test_streaming_without_include_usage_sends_no_usage_chunk(oai):
    chunks = list(oai.chat.completions.create(model=BEDROCK_MODEL, stream=True,
                                              messages=[{"role": "user", "content": words(3)}]))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


def test_parameters_reach_converse(oai, backends):
    oai.chat.completions.create(
        model=BEDROCK_MODEL, max_completion_tokens=50, temperature=0.3, top_p=0.9, stop=["zzz"],
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
                  {"role": "user", "content": words(4)}])
    body = backends.emulator.journal.last("ConverseStream")["body"]
    assert body["system"] == [{"text": "Be brief.\n\nAnswer in English."}]
    assert body["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.3, "topP": 0.9, "stopSequences": ["zzz"]}
    assert body["messages"] == [{"role": "user", "content": [{"text": words(4)}]}]


@pytest.mark.parametrize("model", [BEDROCK_MODEL, OLLAMA_MODEL])
def test_max_tokens_finishes_with_length(oai, model):
    r = oai.chat.completions.create(model=model, max_tokens=3, messages=[{"role": "user", "content": words(20)}])
    assert r.choices[0].finish_reason == "length" and len(r.choices[0].message.content.split()) == 3


@pytest.mark.parametrize("model", [BEDROCK_MODEL, OLLAMA_MODEL])
def test_stop_sequence_cuts_the_answer(oai, model):
    full = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": words(10)}])
    text = full.choices[0].message.content
    stop_word = text.split()[4]
    r = oai.chat.completions.create(model=model, stop=stop_word, messages=[{"role": "user", "content": words(10)}])
    assert r.choices[0].finish_reason == "stop"
    assert stop_word not in r.choices[0].message.content and text.startswith(r.choices[0].message.content)


def test_tools_round_trip_streaming_and_not(oai, backends, db_url):
    question = {"role": "user", "content": f"What is the weather in Paris? [[tool=get_weather]] {words(2)}"}
    r = oai.chat.completions.create(model=BEDROCK_MODEL, messages=[question], tools=[WEATHER_TOOL])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) == {"city"}

    # The same call streamed: the first delta of a call carries id and name, all use index 0.
    chunks = list(oai.chat.completions.create(model=BEDROCK_MODEL, messages=[question], tools=[WEATHER_TOOL],
                                              stream=True))
    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas and all(d.index == 0 for d in deltas)
    assert deltas[0].id == call.id and deltas[0].function.name == "get_weather" and deltas[0].type == "function"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == json.loads(call.function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    # Send the result back: the assistant's tool call and the tool result reach Converse.
    followup = oai.chat.completions.create(model=BEDROCK_MODEL, tools=[WEATHER_TOOL], messages=[
        question,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": "18°C and sunny"},
    ])
    assert followup.choices[0].finish_reason == "stop" and followup.choices[0].message.content
    sent = backends.emulator.journal.last("ConverseStream")["body"]["messages"]
    assert sent[1] == {"role": "assistant", "content": [{"toolUse": {
        "toolUseId": call.id, "name": "get_weather", "input": json.loads(call.function.arguments)}}]}
    assert sent[2]["content"][0]["toolResult"]["content"] == [{"text": "18°C and sunny"}]
    assert len(usage_rows(db_url)) == 3


def test_consecutive_tool_results_share_one_user_turn(oai, backends):
    tools = [WEATHER_TOOL, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    oai.chat.completions.create(model=BEDROCK_MODEL, tools=tools, tool_choice="auto", messages=[
        {"role": "user", "content": "weather and time?"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "rain"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "noon"}]},
    ])
    sent = backends.emulator.journal.last("ConverseStream")["body"]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    results = [b["toolResult"] for b in sent["messages"][2]["content"]]
    assert [(r["toolUseId"], r["content"]) for r in results] == [("call_a", [{"text": "rain"}]),
                                                                 ("call_b", [{"text": "noon"}])]
    assert sent["toolConfig"]["toolChoice"] == {"auto": {}}


@pytest.mark.parametrize(("choice", "expected"), [
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
])
def test_tool_choice_forces_a_call(oai, backends, choice, expected):
    r = oai.chat.completions.create(model=BEDROCK_MODEL, tools=[WEATHER_TOOL], tool_choice=choice,
                                    messages=[{"role": "user", "content": words(2)}])
    assert r.choices[0].finish_reason == "tool_calls"
    assert backends.emulator.journal.last("ConverseStream")["body"]["toolConfig"]["toolChoice"] == expected


def test_image_as_data_url_reaches_the_model(oai, backends):
    png = png_1x1()
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    r = oai.chat.completions.create(model=BEDROCK_MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": f"What is this? {words(3)}"},
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}])
    assert r.choices[0].finish_reason == "stop"
    content = backends.emulator.journal.last("ConverseStream")["body"]["messages"][0]["content"]
    assert content[1]["image"]["format"] == "png"
    assert base64.b64decode(content[1]["image"]["source"]["bytes"]) == png


def test_reasoning_effort_returns_reasoning_content(oai, backends):
    r = oai.chat.completions.create(model=THINKING_MODEL, reasoning_effort="low",
                                    messages=[{"role": "user", "content": f"think {words(4)}"}])
    message = r.choices[0].message
    assert message.reasoning_content and len(message.content.split()) == 4  # type: ignore[attr-defined]
    body = backends.emulator.journal.last("ConverseStream")["body"]
    assert body["additionalModelRequestFields"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}

    chunks = list(oai.chat.completions.create(model=THINKING_MODEL, reasoning_effort="low", stream=True,
                                              messages=[{"role": "user", "content": f"think {words(4)}"}]))
    streamed = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    assert streamed == message.reasoning_content  # type: ignore[attr-defined]


def test_reasoning_effort_is_ignored_by_models_that_cannot_think(oai, backends):
    r = oai.chat.completions.create(model=BEDROCK_MODEL, reasoning_effort="high",
                                    messages=[{"role": "user", "content": words(2)}])
    assert r.choices[0].finish_reason == "stop"
    assert "additionalModelRequestFields" not in backends.emulator.journal.last("ConverseStream")["body"]
    r = oai.chat.completions.create(model=OLLAMA_MODEL, reasoning_effort="high",
                                    messages=[{"role": "user", "content": words(2)}])
    assert r.choices[0].finish_reason == "stop"


def test_session_token_and_x_api_key_are_accepted(gateway, user):
    r = sdk(gateway, user.account.token).chat.completions.create(
        model=OLLAMA_MODEL, messages=[{"role": "user", "content": words(2)}])
    assert r.choices[0].message.content
    r = httpx.get(gateway.url + "/v1/models", headers={"x-api-key": user.key}, timeout=10)
    assert r.status_code == 200 and OLLAMA_MODEL in [m["id"] for m in r.json()["data"]]


def test_model_list_and_lookup(oai, gateway, admin, client):
    ids = [m.id for m in oai.models.list()]
    assert OLLAMA_MODEL in ids and BEDROCK_MODEL in ids and THINKING_MODEL in ids
    model = oai.models.retrieve(BEDROCK_MODEL)
    assert (model.id, model.object, model.owned_by) == (BEDROCK_MODEL, "model", "bedrock")

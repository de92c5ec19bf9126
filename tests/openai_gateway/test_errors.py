"""Errors surface as the `openai` SDK's own exception classes, with OpenAI's error body
(`message`, `type`, `param`, `code`): before a stream starts as an HTTP status (never a
200 carrying an error), after it started as an SSE error event the SDK raises."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from local.serve import ServerThread
from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, TEXT_ONLY_MODEL, sdk, usage_rows

HELLO = [{"role": "user", "content": "hello [[tokens=8]]"}]


def error_body(exc: openai.APIError) -> dict:
    assert isinstance(exc.body, dict) and set(exc.body) == {"message", "type", "param", "code"}, exc.body
    return exc.body


def test_bad_and_revoked_keys_are_authentication_errors(gateway, client, user):
    for key in ("ock_not-a-real-key", "not-even-a-token"):
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk(gateway, key).models.list()
        assert error_body(caught.value)["type"] == "authentication_error"
    assert client.delete(f"/api/keys/{user.key_id}", headers=user.account.headers).status_code == 204
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(gateway, user.key).chat.completions.create(model=OLLAMA_MODEL, messages=HELLO)
    assert caught.value.code == "invalid_api_key"


def test_pending_and_disabled_accounts_are_permission_errors(gateway, client, admin, user, pending, db_url):
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(gateway, pending.token).chat.completions.create(model=OLLAMA_MODEL, messages=HELLO)
    assert caught.value.code == "account_pending"
    oai = sdk(gateway, user.key)
    assert oai.chat.completions.create(model=OLLAMA_MODEL, messages=HELLO).choices[0].message.content
    r = client.patch(f"/api/admin/users/{user.account.id}", json={"role": "pending"}, headers=admin.account.headers)
    assert r.status_code == 200, r.text
    with pytest.raises(openai.PermissionDeniedError):  # the same key, refused at once
        oai.chat.completions.create(model=OLLAMA_MODEL, messages=HELLO, stream=True)
    assert len(usage_rows(db_url)) == 1


@pytest.mark.parametrize("model", ["bedrock/no.such-model-v1:0", "ollama/no-such-model:1b", "openai/gpt-4o", "gpt-4o"])
@pytest.mark.parametrize("stream", [False, True])
def test_unknown_models_are_not_found(oai, model, stream):
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model=model, messages=HELLO, stream=stream)
    assert caught.value.code == "model_not_found"


def test_hidden_models_are_not_found_for_users_only(oai, gateway, client, admin):
    r = client.patch(f"/api/models/{BEDROCK_MODEL}", json={"visibility": "admins"}, headers=admin.account.headers)
    assert r.status_code == 200, r.text
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model=BEDROCK_MODEL, messages=HELLO)
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve(BEDROCK_MODEL)
    assert BEDROCK_MODEL not in [m.id for m in oai.models.list()]
    admin_sdk = sdk(gateway, admin.key)
    assert BEDROCK_MODEL in [m.id for m in admin_sdk.models.list()]
    assert admin_sdk.chat.completions.create(model=BEDROCK_MODEL, messages=HELLO).choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_exhausted_throttling_is_a_rate_limit_error(oai, backends, db_url, stream):
    backends.emulator.faults.error("ThrottlingException", times=2)  # the provider tries twice
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model=BEDROCK_MODEL, messages=HELLO, stream=stream)
    body = error_body(caught.value)
    assert (body["type"], body["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert caught.value.response.headers.get("content-type", "").startswith("application/json")
    [row] = usage_rows(db_url)
    assert (row.outcome, row.error_code) == ("error", "rate_limit_exceeded")


def test_throttling_retried_by_the_provider_succeeds(oai, backends):
    backends.emulator.faults.error("ThrottlingException", times=1)
    assert oai.chat.completions.create(model=BEDROCK_MODEL, messages=HELLO).choices[0].message.content


def test_error_mid_stream_is_an_api_error_after_the_partial_text(oai, backends, db_url):
    backends.emulator.faults.midstream(after_deltas=3, code="modelStreamErrorException")
    received: list[str] = []
    stream = oai.chat.completions.create(model=BEDROCK_MODEL, messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert not isinstance(caught.value, openai.APIStatusError)  # the status was already 200
    assert len("".join(received).split()) == 3
    assert error_body(caught.value)["type"] == "server_error" and caught.value.code == "provider_error"
    assert "ModelStreamErrorException" not in caught.value.message  # Bedrock's words stay in the logs
    [row] = usage_rows(db_url)
    assert row.outcome == "error" and row.error_code == "provider_error"


def test_mid_stream_error_event_on_the_wire(gateway, user, backends):
    """What a client without the SDK sees: chunks, one `data: {"error": ...}` event, the end
    of the stream (no `[DONE]`, so a cut-off answer never looks complete)."""
    backends.emulator.faults.midstream(after_deltas=2, code="internalServerException")
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=20,
                      headers={"authorization": f"Bearer {user.key}"},
                      json={"model": BEDROCK_MODEL, "messages": HELLO, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert set(last) == {"error"} and last["error"]["type"] == "server_error"
    assert sum(1 for e in events[:-1] if json.loads(e)["choices"][0]["delta"].get("content")) == 2


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"temperature": "hot"}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"n": 2}, "n"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool_choice"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "https://example.com/cat.png"}}]}]}, "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/tiff;base64,AAAA"}}]}]}, "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64,not base64!"}}]}]}, "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{nope"}}]}]},
     "messages[1].tool_calls[0].function.arguments"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]}, "messages[1].tool_call_id"),
    ({"model": "bedrock/meta.llama3-1-8b-instruct-v1:0", "response_format": {"type": "json_object"}},
     "response_format"),  # no forced tool choice on this model: no structured output
])
def test_invalid_requests_are_bad_requests_naming_the_param(oai, kwargs, param, db_url):
    arguments = {"model": BEDROCK_MODEL, "messages": HELLO, **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(**arguments)
    body = error_body(caught.value)
    assert (body["param"], body["type"]) == (param, "invalid_request_error"), body
    assert usage_rows(db_url) == []  # refused before any model call


def test_remote_image_url_is_refused_with_a_clear_message(oai):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=BEDROCK_MODEL, stream=True, messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/meta-data"}}]}])
    assert caught.value.code == "unsupported_image_url" and "data URL" in caught.value.message


def test_backend_validation_errors_are_bad_requests(oai):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(openai.BadRequestError):  # Bedrock: this model takes no images
        oai.chat.completions.create(model=TEXT_ONLY_MODEL, messages=[{"role": "user", "content": [image]}])
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as caught:  # Ollama: this model has no tool support
        oai.chat.completions.create(model=OLLAMA_MODEL, messages=HELLO, tools=[tool], stream=True)
    assert "tools" in caught.value.message


def test_unreachable_backend_is_unavailable(live_settings, user):
    from omnichat.openai_compat.app import create_app

    with ServerThread(create_app(live_settings.with_overrides(ollama_host="http://127.0.0.1:1"))) as gw:
        with pytest.raises(openai.InternalServerError) as caught:
            sdk(gw, user.key).chat.completions.create(model=OLLAMA_MODEL, messages=HELLO, stream=True)
    assert caught.value.status_code == 503 and caught.value.code == "provider_unavailable"


def test_raw_http_errors_have_openai_shape(gateway, user):
    auth = {"authorization": f"Bearer {user.key}"}
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        r = http.post("/v1/chat/completions", content=b"{not json", headers=auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        r = http.post("/v1/chat/completions", json=[1, 2], headers=auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        r = http.post("/v1/chat/completions", json={"messages": HELLO}, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["param"] == "model"
        assert r.json()["error"]["code"] == "missing_required_parameter"
        r = http.post("/v1/chat/completions", content=b"x" * (256 * 1024 + 1), headers=auth)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunked():  # no Content-Length: the limit holds while the body is read
            for _ in range(300):
                yield b"x" * 1024

        r = http.post("/v1/chat/completions", content=chunked(), headers=auth)
        assert r.status_code == 413
        r = http.get("/v1/nothing-here", headers=auth)
        assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}
        r = http.post("/v1/chat/completions", json={"model": OLLAMA_MODEL, "messages": HELLO})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"  # as on REST


def test_client_going_away_mid_stream_is_logged_as_stopped(gateway, user, db_url):
    """The client hangs up after a few chunks of a long answer: the gateway stops reading
    the model's stream and logs the call as `stopped` at once."""
    slow = [{"role": "user", "content": "a long one [[tokens=2000]] [[rate=200]]"}]
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=20,
                      headers={"authorization": f"Bearer {user.key}"},
                      json={"model": BEDROCK_MODEL, "messages": slow, "stream": True}) as r:
        lines = r.iter_lines()
        assert sum(1 for _, line in zip(range(6), lines, strict=False) if line.startswith("data: ")) >= 3
    deadline = time.monotonic() + 5
    while not usage_rows(db_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = usage_rows(db_url)
    assert row.outcome == "stopped" and row.duration_ms < 5000  # not the 10 s the whole answer takes

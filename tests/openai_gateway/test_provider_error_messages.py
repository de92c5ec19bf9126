"""Provider failures on /v1, seen through the official `openai` SDK: OpenAI's error shape
with a stable code and a message a user can act on, never the provider's raw words
(exception names, hosts, llama.cpp's numbers) — before the stream starts and during it."""

from __future__ import annotations

import logging
import socket

import openai
import pytest

from local.ollama import create_app as ollama_app
from local.serve import ServerThread
from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, sdk, usage_rows
from tests.user_facing import assert_user_facing

HAIKU = BEDROCK_MODEL.removeprefix("bedrock/")
HELLO = [{"role": "user", "content": "hello [[tokens=8]]"}]


def body_of(exc: openai.APIError) -> dict:
    assert isinstance(exc.body, dict) and set(exc.body) == {"message", "type", "param", "code"}, exc.body
    assert_user_facing(exc.body["message"])
    return exc.body


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_not_enabled_in_the_account_is_a_permission_error_saying_what_to_do(oai, backends, db_url,
                                                                                   stream, caplog):
    backends.emulator.access.set(HAIKU, "not_subscribed")
    try:
        with caplog.at_level(logging.WARNING, logger="omnichat.gateway"):
            with pytest.raises(openai.PermissionDeniedError) as caught:
                oai.chat.completions.create(model=BEDROCK_MODEL, messages=HELLO, stream=stream)
    finally:
        backends.emulator.access.clear()
    body = body_of(caught.value)
    assert caught.value.status_code == 403 and body["code"] == "model_not_enabled"
    assert body["type"] == "permission_error" and "ask an administrator to enable it" in body["message"]
    assert "aws-marketplace:Subscribe" in caplog.text  # Bedrock's explanation, for the operator
    [row] = usage_rows(db_url)
    assert (row.outcome, row.error_code) == ("error", "model_not_enabled")


def test_an_error_inside_the_stream_is_plain(oai, backends):
    backends.emulator.faults.midstream(after_deltas=2, code="validationException",
                                       message="ValidationException at https://bedrock-runtime.us-east-1.amazonaws.com")
    with pytest.raises(openai.APIError) as caught:
        for _ in oai.chat.completions.create(model=BEDROCK_MODEL, messages=HELLO, stream=True):
            pass
    assert body_of(caught.value)["code"] == "invalid_request"


@pytest.fixture(scope="module")
def small_ollama(tmp_path_factory):
    app = ollama_app(tmp_path_factory.mktemp("models"), deterministic=True, deterministic_context=10)
    with ServerThread(app) as server:
        yield server


def test_a_conversation_too_long_for_the_model_is_context_length_exceeded(live_settings, user, small_ollama):
    from omnichat.openai_compat.app import create_app

    long = [{"role": "user", "content": "word " * 40}]
    with ServerThread(create_app(live_settings.with_overrides(ollama_host=small_ollama.url))) as gateway:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk(gateway, user.key).chat.completions.create(model=OLLAMA_MODEL, messages=long)
    body = body_of(caught.value)
    assert body["code"] == "context_length_exceeded" and "context window" in body["message"]


def test_an_unreachable_backend_does_not_reveal_its_address(live_settings, user):
    from omnichat.openai_compat.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
    with ServerThread(create_app(live_settings.with_overrides(ollama_host=host))) as gateway:
        with pytest.raises(openai.InternalServerError) as caught:
            sdk(gateway, user.key).chat.completions.create(model=OLLAMA_MODEL, messages=HELLO, stream=True)
    assert body_of(caught.value)["code"] == "provider_unavailable" and host not in caught.value.message

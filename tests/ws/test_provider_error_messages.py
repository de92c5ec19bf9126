"""Provider failures reach a WebSocket client (the `error` event and `message.done`) and the
REST API (the saved answer's `error`) with a stable code and a message a user can act on;
the provider's raw words (exception names, hosts, llama.cpp's numbers) go to the logs only."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from fastapi.testclient import TestClient

from local.ollama import create_app as ollama_app
from local.serve import ServerThread
from omnichat.auth.principal import Principal
from omnichat.config import get_settings
from tests.conftest import app_for
from tests.helpers import sign_up
from tests.user_facing import assert_user_facing
from tests.ws.conftest import BEDROCK_MODEL, TEST_MODEL
from tests.ws.harness import answer_text, of_type

HAIKU = BEDROCK_MODEL.removeprefix("bedrock/")


def failed_send(harness, conn, content: str, model: str) -> tuple[dict, dict, list[dict]]:
    """The `error` event and `message.done` of a send whose answer failed."""
    harness.send(conn, {"action": "chat.send", "content": content, "model": model,
                        "client_message_id": f"c-{time.monotonic_ns()}"})
    frames = harness.frames(conn)
    [done] = of_type(frames, "message.done")
    [error] = [f for f in of_type(frames, "error") if f.get("message_id") == done["message_id"]]
    assert done["status"] == "error" and done["error"] == {"code": error["code"], "message": error["message"]}
    assert_user_facing(error["message"])
    return error, done, frames


@pytest.fixture
def rest(harness):
    """The REST API on the same database and settings as the WebSocket functions."""
    from omnichat.api.app import create_app

    with TestClient(app_for(create_app, get_settings())) as client:
        yield client


def test_a_model_not_enabled_says_what_to_do_on_the_socket_and_over_rest(harness, rest, bedrock, caplog):
    account = sign_up(rest, "carol@example.com")
    conn = harness.connect(Principal(account.id, account.email, account.role))
    bedrock.app.state.emulator.access.set(HAIKU, "not_subscribed")
    try:
        with caplog.at_level(logging.WARNING, logger="omnichat.relay"):
            error, done, frames = failed_send(harness, conn, "hello", BEDROCK_MODEL)
    finally:
        bedrock.app.state.emulator.access.clear()
    assert error["code"] == "model_not_enabled"
    assert error["message"].startswith("This model is not enabled in this AWS account: ask an administrator")
    assert "AccessDeniedException" in caplog.text and "aws-marketplace:Subscribe" in caplog.text
    chat_id = of_type(frames, "ack")[0]["chat_id"]
    r = rest.get(f"/api/chats/{chat_id}/messages", headers=account.headers)
    assert r.status_code == 200, r.text
    [answer] = [m for m in r.json()["messages"] if m["role"] == "assistant"]
    assert answer["status"] == "error" and answer["error"] == done["error"]


def test_an_error_mid_stream_keeps_the_text_and_shows_a_plain_message(harness, alice, bedrock):
    bedrock.app.state.emulator.faults.midstream(after_deltas=3, code="modelStreamErrorException",
                                                message="arn:aws:bedrock:us-east-1::foundation-model/x failed")
    try:
        error, done, frames = failed_send(harness, harness.connect(alice), "hi [[tokens=9]]", BEDROCK_MODEL)
    finally:
        bedrock.app.state.emulator.faults.clear()
    assert error["code"] == "provider_error" and "ModelStreamErrorException" not in error["message"]
    assert len(answer_text(frames, done["message_id"]).split()) == 3


def test_an_unreachable_ollama_does_not_reveal_its_address(harness, alice, monkeypatch, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("OLLAMA_HOST", host)
    get_settings.cache_clear()
    with caplog.at_level(logging.WARNING, logger="omnichat.relay"):
        error, _, _ = failed_send(harness, harness.connect(alice), "hello", TEST_MODEL)
    assert error["code"] == "provider_unavailable" and host in caplog.text


def test_a_chat_too_long_for_the_model_says_so(harness, alice, monkeypatch, tmp_path_factory):
    app = ollama_app(tmp_path_factory.mktemp("models"), deterministic=True, deterministic_context=10)
    with ServerThread(app) as small:
        monkeypatch.setenv("OLLAMA_HOST", small.url)
        get_settings.cache_clear()
        error, _, _ = failed_send(harness, harness.connect(alice), "word " * 40, TEST_MODEL)
    assert error["code"] == "context_too_long" and "Start a new chat" in error["message"]


def test_a_pull_with_ollama_down_is_plain_on_the_socket_and_detailed_in_the_log(harness, alice, monkeypatch,
                                                                                caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("OLLAMA_HOST", host)
    get_settings.cache_clear()
    conn = harness.connect(alice)  # an admin
    with caplog.at_level(logging.WARNING, logger="omnichat.ws"):
        harness.send(conn, {"action": "model.pull", "model": "ollama/llama3.2:1b"})
    [error] = of_type(harness.frames(conn), "error")
    assert error["code"] == "provider_unavailable" and error["model"] == "ollama/llama3.2:1b"
    assert_user_facing(error["message"])
    assert host in caplog.text

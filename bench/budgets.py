"""Budgets under a burst: can fifty concurrent streams from one user overshoot a budget?

Per database (SQLite file, PostgreSQL): the OpenAI-compatible gateway (in process, on a
loopback port) in front of the deterministic Ollama-compatible server; one user with an
API key. Two bursts of 50 concurrent streaming calls through the official `openai` SDK
(each stream lasts ~2 s, so all 50 are in flight together):
  tokens   a budget of tokens per day that admits exactly 10 calls (10 × one call's
           reservation: its prompt estimate plus max_tokens)
  streams  a budget of 10 concurrent streams
admitted = streams that started; overshoot_requests = admitted beyond 10 (goal 0);
overshoot_tokens = tokens settled beyond the day's budget (goal 0).

Then the check's own cost, one call at a time (no contention), with budgets on the user,
a group of theirs and their key and 2,000 usage rows this month to add up:
  check_ms   the reservation's transaction (what a /v1 call adds before the model call)
  settle_ms  what settling adds to the call's usage-row transaction (the price, the delete)
  empty_txn_ms  a transaction of one SELECT 1, timed alongside: the machine's own noise
check_p99_ms is PostgreSQL's (goal <= 5 ms); each database's figures are prefixed too.

    .venv/bin/python bench/budgets.py [--pg postgresql+pg8000://postgres@127.0.0.1:5432/postgres]
                                      [--calls 500] [--concurrent 50]

Last line: JSON with concurrent, admitted, overshoot_requests, check_p99_ms and the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "omnichat")]

import openai  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from local.ollama import create_app as ollama_app  # noqa: E402
from local.serve import ServerThread  # noqa: E402
from omnichat.auth import api_keys  # noqa: E402
from omnichat.auth.principal import Principal  # noqa: E402
from omnichat.auth.users import sign_up  # noqa: E402
from omnichat.billing import budgets, prices, reservations  # noqa: E402
from omnichat.billing.reservations import Ask  # noqa: E402
from omnichat.config import Settings  # noqa: E402
from omnichat.db import lite, migrate  # noqa: E402
from omnichat.db.lite import utcnow  # noqa: E402
from omnichat.ids import new_id  # noqa: E402

MODEL = "ollama/omnichat-test:latest"
PROMPT = "burst [[tokens=40]] [[rate=20]]"  # 40 tokens at 20 a second: every stream overlaps the others
MAX_TOKENS = 64
ADMITS = 10
SECRET = "bench-secret-" + "b" * 32


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def world(url: str, home: Path) -> tuple[Settings, str, Principal]:
    migrate.upgrade(url)
    settings = Settings(home=home, database_url=url, jwt_secret=SECRET)
    with lite.transaction(url) as db:
        user = sign_up(db, settings, "burst@example.com", "correct horse battery", "burst")
        admin = sign_up(db, settings, "admin@example.com", "correct horse battery", "admin")
        del admin  # the first account is the admin: the burst's user is an ordinary one
        principal = Principal(user.id, user.email, "user")
        row, key = api_keys.create(db, principal, "burst")
    return settings, key, Principal(user.id, user.email, "user", api_key_id=row.id)


def one_call_tokens() -> int:
    """What one burst call reserves: the gateway's own estimate of its request."""
    return reservations.Ask.of_text((MODEL,), len(PROMPT), MAX_TOKENS).tokens


def set_budget(url: str, user_id: str, **limits: Any) -> None:
    lite.run(url, lambda db: budgets.set_budget(db, "user", user_id, limits))


def clear(url: str) -> None:
    lite.run(url, lambda db: (db.execute("DELETE FROM usage"), db.execute("DELETE FROM budget_reservations"),
                              db.execute("DELETE FROM budgets")))


async def burst(base_url: str, key: str, concurrent: int) -> dict[str, int]:
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=120)
    go = asyncio.Event()

    async def call() -> str:
        await go.wait()
        try:
            stream = await client.chat.completions.create(
                model=MODEL, stream=True, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PROMPT}])
        except openai.RateLimitError as exc:
            return "refused" if exc.code == "budget_exceeded" else "throttled"
        async for _ in stream:
            pass
        return "admitted"

    tasks = [asyncio.create_task(call()) for _ in range(concurrent)]
    await asyncio.sleep(0.05)
    go.set()
    outcomes = await asyncio.gather(*tasks)
    await client.close()
    return {k: outcomes.count(k) for k in ("admitted", "refused", "throttled")}


def settled_tokens(url: str) -> int:
    row = lite.run(url, lambda db: db.execute(
        "SELECT COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens), 0)"
        " FROM usage").fetchone())
    return int(row[0])


def cost_of_check(url: str, p: Principal, calls: int) -> dict[str, float]:
    """One call at a time: the reservation's transaction, and settling's added statements."""
    group_id = new_id()
    now = utcnow()

    def setup(db: lite.Db) -> None:
        db.insert("groups", {"id": group_id, "name": "burst", "source": "local", "created_at": now,
                             "updated_at": now})
        db.insert("group_members", {"group_id": group_id, "user_id": p.user_id, "created_at": now})
        db.insert_many("usage", [{"id": new_id(), "user_id": p.user_id, "api_key_id": p.api_key_id, "source": "gateway",
                                  "model": MODEL, "provider": "ollama", "input_tokens": 10, "output_tokens": 10,
                                  "outcome": "complete", "cost_micros": 5,
                                  "created_at": now - timedelta(minutes=i % (60 * 24))} for i in range(2000)])
        prices.set_price(db, MODEL, {"input_per_mtok": 0.5, "output_per_mtok": 1.5})
        budgets.set_budget(db, "user", p.user_id, {"tokens_per_month": 10**9, "usd_per_day": 1000.0,
                                                   "requests_per_minute": 10**6, "concurrent_streams": 10**5})
        budgets.set_budget(db, "group", group_id, {"tokens_per_day": 10**9})
        budgets.set_budget(db, "key", p.api_key_id or "", {"usd_per_month": 1000.0})

    lite.run(url, setup)
    ask = Ask.of_text((MODEL,), 400, 256)
    check, settle, baseline = [], [], []
    for i in range(calls + 20):  # the first 20 warm the connection and the caches up
        started = time.perf_counter()
        lite.run(url, lambda db: db.execute("SELECT 1").fetchone())  # any transaction's round trips
        began = time.perf_counter()
        held = reservations.reserve_alone(url, p.user_id, p.api_key_id, ask)
        checked = time.perf_counter()

        def settle_it(db: lite.Db, held: str | None = held) -> float:
            t0 = time.perf_counter()
            prices.call_cost(db, MODEL, 100, 40, 0, 0, 900.0)  # what usage.record adds: the price ...
            reservations.settle(db, held)  # ... and the reservation's end
            return time.perf_counter() - t0

        settled = lite.run(url, settle_it)
        if i >= 20:
            baseline.append((began - started) * 1000)
            check.append((checked - began) * 1000)
            settle.append(settled * 1000)
    return {"check_p50_ms": round(statistics.median(check), 3), "check_p99_ms": round(pct(check, 99), 3),
            "settle_p99_ms": round(pct(settle, 99), 3), "empty_txn_p50_ms": round(statistics.median(baseline), 3),
            "empty_txn_p99_ms": round(pct(baseline, 99), 3)}


def run_one(url: str, home: Path, concurrent: int, calls: int) -> dict[str, Any]:
    settings, key, principal = world(url, home)
    with ServerThread(ollama_app(home / "models", deterministic=True)) as ollama:
        from omnichat.openai_compat.app import create_app

        gateway = create_app(settings.with_overrides(ollama_host=ollama.url, bedrock_enabled=False))
        with ServerThread(gateway, lifespan="off") as server:
            one = one_call_tokens()
            set_budget(url, principal.user_id, tokens_per_day=ADMITS * one)
            tokens = asyncio.run(burst(server.url, key, concurrent))
            used = settled_tokens(url)
            clear(url)
            set_budget(url, principal.user_id, concurrent_streams=ADMITS)
            streams = asyncio.run(burst(server.url, key, concurrent))
            clear(url)
    figures = cost_of_check(url, principal, calls)
    return {"admitted": tokens["admitted"], "refused": tokens["refused"], "throttled": tokens["throttled"],
            "overshoot_requests": max(0, tokens["admitted"] - ADMITS),
            "overshoot_tokens": max(0, used - ADMITS * one), "budget_tokens": ADMITS * one, "settled_tokens": used,
            "streams_admitted": streams["admitted"],
            "streams_overshoot_requests": max(0, streams["admitted"] - ADMITS), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+pg8000://postgres@127.0.0.1:5432/postgres",
                        help="the PostgreSQL server to make a throwaway database on")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="omnichat-budgets-") as tmp:
        home = Path(tmp)
        results["sqlite"] = run_one(f"sqlite:///{home / 'omnichat.db'}", home, args.concurrent, args.calls)
        print("sqlite", json.dumps(results["sqlite"]), flush=True)
        with scratch_database(args.pg, prefix="omnichat_bench_budgets") as url:
            results["postgresql"] = run_one(url, home, args.concurrent, args.calls)
        print("postgresql", json.dumps(results["postgresql"]), flush=True)
    pg, lt = results["postgresql"], results["sqlite"]
    line = {"concurrent": args.concurrent, "budget_admits": ADMITS,
            "admitted": max(pg["admitted"], lt["admitted"]),
            "overshoot_requests": max(pg["overshoot_requests"], lt["overshoot_requests"],
                                      pg["streams_overshoot_requests"], lt["streams_overshoot_requests"]),
            "check_p99_ms": pg["check_p99_ms"]}
    for db, figures in results.items():
        line.update({f"{db}_{name}": value for name, value in figures.items()})
    print(json.dumps(line))


if __name__ == "__main__":
    main()

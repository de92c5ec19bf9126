"""Exactly once through the local stack: randomized trials of `chat.send` delivered as a
demanding client might — retried before the ack, mid-answer and after it ended, on the
same or new connections, sent twice at the same moment, split into parts that arrive
shuffled and duplicated — over real WebSocket connections (the `websockets` client)
to the emulator, several trials at once in separate chats. Then the database is read:
every client_message_id must have exactly one user message with the text sent, one
answer and one model call (usage row). Protocol: docs/websocket-protocol.md, "Guarantees".

    .venv/bin/python bench/exactly_once.py [--trials 1000] [--lanes 3] [--seed 1]

It starts the deterministic model server and the emulator on free loopback ports with a
scratch SQLite database (bench/local_load.py's `local_stack`).

Last line: {"trials": N, "duplicates": 0, "lost": 0, "model_calls_per_message_max": 1, ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.local_load import MODEL, local_stack  # noqa: E402

PART_CHARS = 40


class Connection:
    """One WebSocket connection and every frame it received."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.frames = ws, []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except Exception:  # noqa: BLE001 - a closed connection ends the reading
            pass

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


class Stack:
    def __init__(self, url: str, db_path: Path, token: str, http: httpx.AsyncClient) -> None:
        self.ws_url = url.replace("http", "ws", 1) + "/ws"
        self.db_path, self.token, self.http = db_path, token, http

    async def connect(self) -> Connection:
        ticket = await self.http.post("/api/auth/ws-ticket", headers={"authorization": f"Bearer {self.token}"})
        ticket.raise_for_status()
        ws = await connect(f"{self.ws_url}?ticket={ticket.json()['ticket']}&v=1", max_size=None, open_timeout=30)
        return Connection(ws)

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    async def settled(self, chat_id: str | None, timeout_s: float = 60) -> None:
        """Until the chat streams nothing (any chat when `chat_id` is None)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            where, params = ("WHERE chat_id = ?", (chat_id,)) if chat_id else ("", ())
            if not await asyncio.to_thread(self.query, f"SELECT 1 FROM streams {where}", *params):
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("an answer did not end")


def parts_of(frame: dict[str, Any], count: int) -> list[dict[str, Any]]:
    content = frame["content"]
    size = -(-len(content) // count)
    return [{**frame, "content": content[i * size:(i + 1) * size], "part": {"index": i, "count": count}}
            for i in range(count)]


async def trial(stack: Stack, rng: random.Random, lane: int, n: int, chats: list[str],
                pool: list[Connection]) -> dict[str, Any]:
    cmid = f"eo-{lane}-{n}-{uuid.uuid4().hex[:8]}"
    text = f"Trial {lane}.{n}: " + " ".join(rng.choice(("alpha", "beta", "gamma", "delta")) for _ in range(10))
    text += f" [[tokens={rng.randint(2, 6)}]] [[rate={rng.choice((0, 0, 150))}]]"
    frame: dict[str, Any] = {"action": "chat.send", "content": text, "client_message_id": cmid}
    chat_id = rng.choice(chats) if chats and rng.random() < 0.6 else None
    if chat_id:
        frame["chat_id"] = chat_id
    else:
        frame["model"] = MODEL
    count = rng.choice((1, 1, 2, 3))
    units = parts_of(frame, count) if count > 1 else [frame]
    deliveries = units + [rng.choice(units) for _ in range(rng.randint(0, 3))]
    rng.shuffle(deliveries)
    fresh = [await stack.connect() for _ in range(rng.randint(0, 2))]
    connections = pool + fresh
    racing = rng.randint(1, len(deliveries))
    await asyncio.gather(*(rng.choice(connections).send(d) for d in deliveries[:racing]))
    for d in deliveries[racing:]:
        await asyncio.sleep(rng.choice((0, 0.01, 0.05)))  # before the ack, mid-answer, …
        if rng.random() < 0.3:
            await stack.settled(chat_id)  # … or after it ended
        await rng.choice(connections).send(d)
    if rng.random() < 0.25:  # a late retry of the whole message on a new connection
        await stack.settled(chat_id)
        late = await stack.connect()
        fresh.append(late)
        await late.send(units[-1])
        await asyncio.sleep(0.05)
    rows: list[tuple] = []
    for _ in range(500):  # until the message is accepted, or the client is told why not
        rows = await asyncio.to_thread(stack.query, "SELECT chat_id FROM sends WHERE client_message_id = ?", cmid)
        if rows or any(f.get("type") == "error" and f.get("client_message_id") == cmid
                       for c in pool + fresh for f in c.frames):
            break
        await asyncio.sleep(0.02)
    for chat in {r[0] for r in rows}:
        await stack.settled(chat)
    await asyncio.sleep(0.05)  # the last frames reach the client
    about = [f for c in pool + fresh for f in c.frames if f.get("client_message_id") == cmid]
    acks = [f for f in about if f.get("type") == "ack" and "user_message_id" in f]
    refusals = sorted({f["code"] for f in about if f.get("type") == "error"})
    for c in fresh:
        await c.close()
    if not chat_id and rows:
        chats.append(rows[0][0])
    return {"cmid": cmid, "text": text, "created_acks": sum(bool(a.get("created")) for a in acks),
            "ack_ids": len({a["user_message_id"] for a in acks}), "parts": count, "refusals": refusals}


async def lane(stack: Stack, rng: random.Random, index: int, trials: int) -> list[dict[str, Any]]:
    pool = [await stack.connect() for _ in range(2)]
    chats: list[str] = []
    results = [await trial(stack, rng, index, n, chats, pool) for n in range(trials)]
    for c in pool:
        await c.close()
    return results


def audit(stack: Stack, results: list[dict[str, Any]]) -> dict[str, Any]:
    """A message is lost when it was not saved and the client was not told why (an `error`
    naming its client_message_id): a refused message is the client's to send again."""
    duplicates = lost = refused = 0
    calls_max = 0
    for r in results:
        questions = stack.query("SELECT id, content FROM messages WHERE client_message_id = ?", r["cmid"])
        if not any(content == r["text"] for _, content in questions):
            refused += bool(r["refusals"])
            lost += not r["refusals"]
            print(f"not saved: {r['cmid']} {r['refusals'] or 'with no error'}", file=sys.stderr)
        duplicates += max(0, len(questions) - 1)
        for qid, _ in questions:
            answers = stack.query("SELECT id FROM messages WHERE parent_id = ? AND role = 'assistant'", qid)
            duplicates += max(0, len(answers) - 1)
            for (aid,) in answers:
                calls = stack.query("SELECT count(*) FROM usage WHERE message_id = ? AND source = 'chat'", aid)[0][0]
                calls_max = max(calls_max, calls)
    return {"duplicates": duplicates, "lost": lost, "model_calls_per_message_max": calls_max, "refused": refused}


async def run(url: str, db_path: Path, trials: int, lanes: int, seed: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        account = {"email": f"exactly-once-{uuid.uuid4().hex[:8]}@example.com",
                   "password": "correct horse battery staple"}
        (await http.post("/api/auth/signup", json={**account, "name": "Exactly once"})).raise_for_status()
        signin = await http.post("/api/auth/signin", json=account)
        signin.raise_for_status()
        stack = Stack(url, db_path, signin.json()["access_token"], http)
        per_lane = -(-trials // lanes)
        started = time.perf_counter()
        batches = await asyncio.gather(*(lane(stack, random.Random(seed * 1000 + i), i, per_lane)
                                         for i in range(lanes)))
        elapsed = time.perf_counter() - started
    results = [r for batch in batches for r in batch]
    figures = await asyncio.to_thread(audit, stack, results)
    return {"trials": len(results), **figures,
            "created_acks_per_message_max": max(r["created_acks"] for r in results),
            "ids_per_message_max": max(r["ack_ids"] for r in results),
            "parted_messages": sum(r["parts"] > 1 for r in results),
            "messages_by_parts": dict(sorted(Counter(r["parts"] for r in results).items())),
            "elapsed_s": round(elapsed, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--lanes", type=int, default=3, help="trials run at once, each lane in its own chats")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="omnichat-exactly-once-"))
    with local_stack(args.template, scratch) as url:
        result = asyncio.run(run(url, scratch / "omnichat.db", args.trials, args.lanes, args.seed))
    print(json.dumps(result), flush=True)
    ok = result["duplicates"] == 0 and result["lost"] == 0 and result["model_calls_per_message_max"] == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

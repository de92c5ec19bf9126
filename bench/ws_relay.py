"""How many post_to_connection calls does a long answer cost, and how much latency does
coalescing add?

A model emits 1,000 one-word tokens at a steady rate; the streaming relay coalesces them
and posts through the functions' own SigV4-signing Management API client
(`omnichat.aws.connections`, as in Lambda) to the local API
Gateway's @connections endpoint, which delivers them to a real WebSocket client. Added
latency is per token: from the moment the model hands it over to the moment the
post_to_connection call that carries it has returned.

    .venv/bin/python bench/ws_relay.py [--rate 100] [--tokens 1000] [--coalesce-ms 50]

Last line: {"tokens", "posts", "p50_added_ms", "p99_added_ms", "rate", "coalesce_ms"};
targets: posts <= 60 and p99 added <= 60 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "omnichat")]

import httpx  # noqa: E402
import websockets  # noqa: E402
from sqlalchemy import select  # noqa: E402

from omnichat.auth.principal import Principal  # noqa: E402
from omnichat.chats import service, tree  # noqa: E402
from omnichat.db.engine import session_scope  # noqa: E402
from omnichat.db.lite import Db  # noqa: E402
from omnichat.db.models import Connection, User  # noqa: E402
from omnichat.providers.types import ChatRequest, Finish, TextDelta, Usage  # noqa: E402
from omnichat.streaming import control  # noqa: E402
from omnichat.streaming.relay import Generation, Relay, RelayTuning  # noqa: E402
from omnichat.streaming.sinks import management_sink  # noqa: E402


class PacedModel:
    """Emits `n` tokens at `rate` per second, noting when each one leaves."""

    name = "ollama"

    def __init__(self, n: int, rate: float) -> None:
        self.n, self.rate = n, rate
        self.emitted: list[float] = []

    async def stream_chat(self, request: ChatRequest):
        start = time.perf_counter()
        for i in range(self.n):
            await asyncio.sleep(max(0.0, start + i / self.rate - time.perf_counter()))
            self.emitted.append(time.perf_counter())
            yield TextDelta(f"w{i:04d} ")  # 6 characters each: offsets map to tokens
        yield Finish("end_turn", Usage(10, self.n), None, 0.0)


async def run(args: argparse.Namespace) -> dict:
    from local.stack import start

    home = Path(tempfile.mkdtemp())
    stack = start(port=0, home=home, deterministic=True, build=False)
    try:
        db_url = f"sqlite:///{home / 'omnichat.db'}"
        account = {"email": "bench@example.com", "password": "correct horse battery"}
        httpx.post(f"{stack.url}/api/auth/signup", json=account).raise_for_status()
        token = httpx.post(f"{stack.url}/api/auth/signin", json=account).json()["access_token"]
        ticket = httpx.post(f"{stack.url}/api/auth/ws-ticket", headers={"authorization": f"Bearer {token}"}).json()
        received: list[str] = []
        async with websockets.connect(f"{stack.ws_url}?ticket={ticket['ticket']}") as ws:
            with session_scope(db_url) as db:
                user = db.scalar(select(User))
                connection_id = db.scalar(select(Connection.connection_id).where(Connection.user_id == user.id))
                principal, sql = Principal(user.id, user.email, user.role), Db.of_session(db)
                chat = service.create(sql, principal, model="ollama/paced")
                question, _ = tree.append(sql, chat, role="user", content="go")
                answer, _ = tree.append(sql, chat, role="assistant", content="", status="streaming")
                control.begin(sql, chat_id=chat.id, user_id=user.id, message_id=answer.id, connection_id=connection_id)
                chat_id, message_id = chat.id, answer.id

            async def listen() -> None:
                async for raw in ws:
                    received.append(raw)
                    if json.loads(raw)["type"] == "message.done":
                        return

            listener = asyncio.create_task(listen())
            sink = management_sink(f"{stack.url}/prod", "us-east-1")
            # As in a real send, `message.started` goes out before the model is called (and
            # opens the signed client's connection before any token waits on it).
            sink.post(connection_id, json.dumps({"type": "message.started", "chat_id": chat_id,
                                                  "message_id": message_id}).encode())
            model = PacedModel(args.tokens, args.rate)
            posted: list[tuple[float, dict]] = []
            relay = Relay(Generation(
                db_url=db_url, chat_id=chat_id, message_id=message_id, user_id=principal.user_id,
                model_id="ollama/paced", provider_name="ollama", provider=model,
                request=ChatRequest(model="paced", messages=()),
                sink=sink, subscribers={connection_id},
                tuning=RelayTuning(max_delay_s=args.coalesce_ms / 1000),
                on_post=lambda event: posted.append((time.perf_counter(), event)),
            ))
            outcome = await relay.run()
            await asyncio.wait_for(listener, 10)
    finally:
        stack.stop()
    added = []
    for at, event in posted:
        if event["type"] == "delta":
            first, count = event["offset"] // 6, len(event["text"]) // 6
            added += [(at - model.emitted[i]) * 1000 for i in range(first, first + count)]
    added.sort()
    assert outcome.status == "complete" and len(added) == args.tokens, (outcome.status, len(added))
    assert len(received) == outcome.posts + 1  # every post (and message.started) reached the client
    return {"tokens": args.tokens, "posts": outcome.posts, "p50_added_ms": round(statistics.median(added), 1),
            "p99_added_ms": round(added[int(len(added) * 0.99) - 1], 1), "rate": args.rate,
            "coalesce_ms": args.coalesce_ms}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0, help="tokens per second")
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--coalesce-ms", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"{result['tokens']} tokens at {args.rate:g}/s, {args.coalesce_ms} ms window: {result['posts']} posts, "
          f"added latency p50 {result['p50_added_ms']} ms, p99 {result['p99_added_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

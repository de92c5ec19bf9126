"""The relay on its own: coalescing bounds, gone connections, progress saves, stop."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from omnichat.auth.principal import Principal
from omnichat.chats import service, tree
from omnichat.db.engine import session_scope
from omnichat.db.lite import Db
from omnichat.db.models import Message, User
from omnichat.providers.types import ChatRequest, Finish, TextDelta, Usage
from omnichat.streaming import control
from omnichat.streaming.coalescer import Coalescer
from omnichat.streaming.relay import Generation, Relay, RelayTuning
from omnichat.streaming.sinks import ConnectionGone


class PacedModel:
    """A provider emitting `n` one-word tokens at `rate` per second."""

    name = "ollama"

    def __init__(self, n: int, rate: float) -> None:
        self.n, self.rate = n, rate

    async def stream_chat(self, request):
        start = time.monotonic()
        for i in range(self.n):
            await asyncio.sleep(max(0.0, start + i / self.rate - time.monotonic()))
            yield TextDelta(f"t{i} ")
        yield Finish("end_turn", Usage(3, self.n), None, 0.0)

    async def list_models(self):
        return []


class RecordingSink:
    """Keeps what each connection was posted; a connection can be made to go away."""

    def __init__(self, gone_after: dict[str, int] | None = None) -> None:
        self.posts: dict[str, list[dict]] = {}
        self.gone_after = gone_after or {}

    def post(self, connection_id: str, data: bytes) -> None:
        sent = self.posts.setdefault(connection_id, [])
        if len(sent) >= self.gone_after.get(connection_id, 1 << 30):
            raise ConnectionGone(connection_id)
        sent.append(json.loads(data))


@pytest.fixture
def streaming_message(db_url):
    with session_scope(db_url) as db:
        user = User(email="r@example.com", password_hash="-", role="user")
        db.add(user)
        db.flush()
        principal, sql = Principal(user.id, user.email, "user"), Db.of_session(db)
        chat = service.create(sql, principal, model="ollama/x")
        question, _ = tree.append(sql, chat, role="user", content="q")
        answer, _ = tree.append(sql, chat, role="assistant", content="", status="streaming")
        control.begin(sql, chat_id=chat.id, user_id=user.id, message_id=answer.id, connection_id="conn-a=")
        return chat.id, answer.id, user.id


def relay_for(db_url, ids, model, sink, tuning=RelayTuning()) -> Relay:
    chat_id, message_id, user_id = ids
    return Relay(Generation(db_url=db_url, chat_id=chat_id, message_id=message_id, user_id=user_id,
                            model_id="ollama/x", provider_name="ollama", provider=model,
                            request=ChatRequest(model="x", messages=()), sink=sink, subscribers={"conn-a="},
                            tuning=tuning))


def test_coalescer_releases_on_size_and_on_age():
    now = [0.0]
    c = Coalescer(max_delay_s=0.05, max_chars=10, clock=lambda: now[0])
    c.add("12345")
    assert not c.due() and abs(c.seconds_left() - 0.05) < 1e-9
    c.add("67890")
    assert c.due() and c.take() == ("1234567890", "")
    c.add("a")
    now[0] += 0.051
    assert c.due() and c.empty is False
    assert c.take() == ("a", "") and c.empty and c.seconds_left() == float("inf")


class BurstModel:
    """A provider emitting `bursts` of `size` one-word tokens: each burst at once (queued
    before the relay reads its first token), then silence until the relay has posted it."""

    name = "ollama"

    def __init__(self, bursts: int, size: int, sink: RecordingSink) -> None:
        self.bursts, self.size, self.sink = bursts, size, sink

    def delta_posts(self) -> int:
        return sum(p["type"] == "delta" for p in self.sink.posts.get("conn-a=", []))

    async def stream_chat(self, request):
        for b in range(self.bursts):
            for i in range(self.size):
                yield TextDelta(f"t{b * self.size + i} ")  # the relay still takes each token on its own
            while self.delta_posts() <= b:
                await asyncio.sleep(0.005)
        yield Finish("end_turn", Usage(3, self.bursts * self.size), None, 0.0)

    async def list_models(self):
        return []


def deltas_of(sink: RecordingSink) -> list[dict]:
    deltas = [p for p in sink.posts["conn-a="] if p["type"] == "delta"]
    assert [d["offset"] for d in deltas] == [sum(len(x["text"]) for x in deltas[:i]) for i in range(len(deltas))]
    return deltas


def test_tokens_that_arrive_together_are_posted_together(db_url, streaming_message):
    """The age rule: nothing is posted until the oldest buffered token is max_delay_s old, so
    a burst of 200 tokens (far under max_chars) leaves as one delta — 1,000 tokens, 5 posts."""
    sink = RecordingSink()
    model, tuning = BurstModel(bursts=5, size=200, sink=sink), RelayTuning(max_delay_s=0.2)
    outcome = asyncio.run(relay_for(db_url, streaming_message, model, sink, tuning).run())
    deltas = deltas_of(sink)
    assert outcome.status == "complete" and len(outcome.content.split()) == 1000
    assert [d["text"].split() for d in deltas] == [
        [f"t{b * 200 + i}" for i in range(200)] for b in range(5)]  # one delta per burst, in order


def test_a_long_burst_is_cut_at_max_chars(db_url, streaming_message):
    """The size rule: with an age limit the stream never reaches, every delta but the last
    holds max_chars and less than one more token; the last is the remainder."""
    sink = RecordingSink()
    tuning = RelayTuning(max_delay_s=600.0, max_chars=1000)
    outcome = asyncio.run(relay_for(db_url, streaming_message, BurstModel(1, 1000, sink), sink, tuning).run())
    deltas = deltas_of(sink)
    longest_token = max(len(t) + 1 for t in outcome.content.split())
    assert outcome.status == "complete" and "".join(d["text"] for d in deltas) == outcome.content
    assert all(1000 <= len(d["text"]) < 1000 + longest_token for d in deltas[:-1])
    assert 0 < len(deltas[-1]["text"]) < 1000 + longest_token and len(deltas) <= len(outcome.content) // 1000 + 1


def test_a_gone_connection_stops_the_posts_not_the_answer(db_url, streaming_message):
    sink = RecordingSink(gone_after={"conn-a=": 2})
    outcome = asyncio.run(relay_for(db_url, streaming_message, PacedModel(200, 1000), sink).run())
    assert outcome.status == "complete" and len(sink.posts["conn-a="]) == 2
    with session_scope(db_url) as db:
        saved = db.get(Message, streaming_message[1])
    assert saved.status == "complete" and saved.content == outcome.content
    assert control.poll(db_url, streaming_message[1]).subscribers == frozenset()


def test_progress_is_saved_while_streaming(db_url, streaming_message):
    sink = RecordingSink()
    tuning = RelayTuning(save_interval_s=0.2, poll_interval_s=0.1)
    seen: list[str] = []

    async def watch() -> None:
        for _ in range(8):
            await asyncio.sleep(0.1)
            with session_scope(db_url) as db:
                seen.append(db.get(Message, streaming_message[1]).content)

    async def both():
        return await asyncio.gather(relay_for(db_url, streaming_message, PacedModel(60, 60), sink, tuning).run(),
                                    watch())

    outcome, _ = asyncio.run(both())
    partial = [s for s in seen if s and s != outcome.content]
    assert partial and all(outcome.content.startswith(p) for p in partial)

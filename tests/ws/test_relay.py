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


def test_fast_models_are_coalesced_into_few_posts(db_url, streaming_message):
    sink = RecordingSink()
    outcome = asyncio.run(relay_for(db_url, streaming_message, PacedModel(1000, 2000), sink).run())
    deltas = [p for p in sink.posts["conn-a="] if p["type"] == "delta"]
    assert outcome.status == "complete" and len(outcome.content.split()) == 1000
    assert len(deltas) < 60  # ~0.5 s of output in 50 ms windows
    assert "".join(d["text"] for d in deltas) == outcome.content
    assert [d["offset"] for d in deltas] == [sum(len(x["text"]) for x in deltas[:i]) for i in range(len(deltas))]


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

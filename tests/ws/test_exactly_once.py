"""Exactly once (docs/websocket-protocol.md, "Guarantees"): a `chat.send` is accepted once
per (user, client_message_id), whatever a client does — retry it on the same or another
connection before the ack, mid-answer or after it, send it twice at once, send its parts
out of order or twice — and an accepted message is never lost. Each accepted message has
one user message, one answer and one model call (one usage row).

The handlers run as API Gateway invokes them (tests/ws/harness.py), concurrently on
threads, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import pytest

from omnichat.db import lite
from tests.ws.conftest import TEST_MODEL
from tests.ws.harness import Harness, of_type

PART_CHARS = 40  # small parts, so that short texts still come in several


def _rows(db_url: str, sql: str, *params: Any) -> list[tuple]:
    return [tuple(row) for row in lite.run(db_url, lambda db: db.execute(sql, *params).fetchall())]


def _ledger(db_url: str, client_message_id: str) -> dict[str, Any]:
    """What the database holds for one client message id."""
    questions = _rows(db_url, "SELECT id, chat_id, content FROM messages WHERE client_message_id = ?",
                      client_message_id)
    answers = [a for q in questions for a in
               _rows(db_url, "SELECT id, status FROM messages WHERE parent_id = ? AND role = 'assistant'", q[0])]
    calls = [c for a in answers for c in
             _rows(db_url, "SELECT id FROM usage WHERE message_id = ? AND source = 'chat'", a[0])]
    return {"questions": questions, "answers": answers, "calls": calls}


def _wait_until_ended(harness: Harness, db_url: str, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if not _rows(db_url, "SELECT message_id FROM streams"):
            return
        time.sleep(0.05)
    raise AssertionError("an answer never ended")


def _frames_for(harness: Harness, connections: list[str], client_message_id: str) -> list[dict]:
    return [f for c in connections for f in harness.frames(c)
            if f.get("client_message_id") == client_message_id]


def _parts(frame: dict, count: int) -> list[dict]:
    content = frame["content"]
    size = -(-len(content) // count)
    return [{**frame, "content": content[i * size:(i + 1) * size], "part": {"index": i, "count": count}}
            for i in range(count)]


def _send_all_at_once(harness: Harness, deliveries: list[tuple[str, dict]]) -> None:
    """Every delivery on its own thread, released together."""
    start = threading.Barrier(len(deliveries))

    def deliver(connection_id: str, frame: dict) -> None:
        start.wait()
        harness.send(connection_id, frame)

    threads = [threading.Thread(target=deliver, args=d, daemon=True) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()


# ---- the cases the issue reported ------------------------------------------------------------
def test_retrying_the_first_send_of_a_new_chat_never_makes_a_second_chat(harness, alice, db_url):
    first, second = harness.connect(alice), harness.connect(alice)
    frame = {"action": "chat.send", "content": "hello [[tokens=4]]", "client_message_id": "new-chat-1",
             "model": TEST_MODEL}
    harness.send(first, frame)
    harness.send(second, frame)  # on a new connection
    harness.send(first, frame)  # on the same one, after the answer
    acks = of_type(harness.frames(first), "ack") + of_type(harness.frames(second), "ack")
    assert [a["created"] for a in acks] == [True, False, False]
    assert len({(a["chat_id"], a["user_message_id"], a["assistant_message_id"]) for a in acks}) == 1
    assert _rows(db_url, "SELECT count(*) FROM chats")[0][0] == 1
    ledger = _ledger(db_url, "new-chat-1")
    assert (len(ledger["questions"]), len(ledger["answers"]), len(ledger["calls"])) == (1, 1, 1)


def test_the_same_send_twice_at_once_is_answered_once(harness, alice, db_url):
    chat_conn = harness.connect(alice)
    harness.send(chat_conn, {"action": "chat.send", "content": "start [[tokens=2]]", "client_message_id": "seed",
                             "model": TEST_MODEL})
    chat_id = of_type(harness.frames(chat_conn), "ack")[0]["chat_id"]
    for attempt in range(6):
        cmid = f"twice-{attempt}"
        frame = {"action": "chat.send", "chat_id": chat_id, "content": f"q{attempt} [[tokens=6]] [[rate=60]]",
                 "client_message_id": cmid}
        conns = [harness.connect(alice), harness.connect(alice)]
        _send_all_at_once(harness, [(conns[0], frame), (conns[1], frame)])
        _wait_until_ended(harness, db_url)
        acks = [f for c in conns for f in of_type(harness.frames(c), "ack")]
        assert sorted(a["created"] for a in acks) == [False, True], acks
        assert len({a["user_message_id"] for a in acks}) == 1
        assert sum(len(of_type(harness.frames(c), "message.started")) for c in conns) == 1
        ledger = _ledger(db_url, cmid)
        assert (len(ledger["questions"]), len(ledger["answers"]), len(ledger["calls"])) == (1, 1, 1), ledger
        for c in conns:  # both connections see the one answer end
            assert [d["message_id"] for d in of_type(harness.frames(c), "message.done")] == \
                [acks[0]["assistant_message_id"]]


def test_parts_out_of_order_and_repeated_make_one_message(harness, alice, db_url):
    conn = harness.connect(alice)
    text = "A question long enough to need three parts. [[tokens=3]]"
    parts = _parts({"action": "chat.send", "content": text, "client_message_id": "parts-1", "model": TEST_MODEL}, 3)
    for part in (parts[2], parts[0], parts[2], parts[1], parts[0]):
        harness.send(conn, part)
    acks = of_type(harness.frames(conn), "ack")
    assert [a["part"]["index"] for a in acks] == [2, 0, 2, 1, 0]  # every part's ack says which part
    accepted = [a for a in acks if "user_message_id" in a]
    assert [a["created"] for a in accepted] == [True, False]  # completed by part 1; part 0 again is a repeat
    ledger = _ledger(db_url, "parts-1")
    assert [q[2] for q in ledger["questions"]] == [text]
    assert (len(ledger["answers"]), len(ledger["calls"])) == (1, 1)
    assert of_type(harness.frames(conn), "message.done")[0]["status"] == "complete"


def test_parts_arriving_together_are_never_lost(harness, alice, db_url):
    text = "Every part at the same moment, on different connections. [[tokens=2]]"
    for attempt in range(4):
        cmid = f"together-{attempt}"
        parts = _parts({"action": "chat.send", "content": text, "client_message_id": cmid, "model": TEST_MODEL}, 4)
        conns = [harness.connect(alice) for _ in parts]
        _send_all_at_once(harness, list(zip(conns, parts, strict=True)))
        _wait_until_ended(harness, db_url)
        ledger = _ledger(db_url, cmid)
        assert [q[2] for q in ledger["questions"]] == [text], attempt
        assert (len(ledger["answers"]), len(ledger["calls"])) == (1, 1)


def test_fields_come_from_the_last_part_whichever_arrives_first(harness, alice, db_url):
    conn = harness.connect(alice)
    parts = _parts({"action": "chat.send", "content": "system prompt from the last part [[tokens=2]]",
                    "client_message_id": "fields-1", "model": TEST_MODEL}, 2)
    parts[1]["system_prompt"] = "Answer like a pirate."
    harness.send(conn, parts[1])
    harness.send(conn, parts[0])
    chat_id = [a for a in of_type(harness.frames(conn), "ack") if "chat_id" in a][0]["chat_id"]
    assert _rows(db_url, "SELECT system_prompt FROM chats WHERE id = ?", chat_id) == [("Answer like a pirate.",)]


def test_a_send_to_an_unknown_model_saves_nothing(harness, alice, db_url):
    conn = harness.connect(alice)
    harness.send(conn, {"action": "chat.send", "content": "hi", "client_message_id": "ghost-1",
                        "model": "ollama/no-such-model:latest", "request_id": "r1"})
    frames = harness.frames(conn)
    assert [f["type"] for f in frames] == ["error"]
    assert frames[0]["code"] == "model_not_found" and frames[0]["request_id"] == "r1"
    assert _rows(db_url, "SELECT count(*) FROM chats") == [(0,)]
    assert _rows(db_url, "SELECT count(*) FROM usage") == [(0,)]
    # The same id with a model that exists is then accepted: the refusal kept nothing.
    harness.send(conn, {"action": "chat.send", "content": "hi [[tokens=2]]", "client_message_id": "ghost-1",
                        "model": TEST_MODEL})
    assert of_type(harness.frames(conn), "ack")[0]["created"] is True


def test_one_key_per_user_not_per_chat(harness, alice, bob, db_url):
    """The same client id from another user is another message."""
    frame = {"action": "chat.send", "content": "mine [[tokens=2]]", "client_message_id": "shared-id",
             "model": TEST_MODEL}
    a, b = harness.connect(alice), harness.connect(bob)
    harness.send(a, frame)
    harness.send(b, frame)
    assert of_type(harness.frames(a), "ack")[0]["created"] is True
    assert of_type(harness.frames(b), "ack")[0]["created"] is True
    assert len(_ledger(db_url, "shared-id")["questions"]) == 2


# ---- the property: random retries, races and parts ------------------------------------------
def _trial(harness: Harness, rng: random.Random, user, db_url: str, chats: list[str], n: int) -> dict[str, Any]:
    """One message, delivered as a demanding client might; returns what to check."""
    cmid = f"p{n}-{uuid.uuid4().hex[:8]}"
    text = f"Message {n}: " + " ".join(rng.choice(("alpha", "beta", "gamma", "delta")) for _ in range(12))
    text += f" [[tokens={rng.randint(2, 8)}]] [[rate={rng.choice((0, 80, 200))}]]"
    frame: dict[str, Any] = {"action": "chat.send", "content": text, "client_message_id": cmid}
    if chats and rng.random() < 0.6:
        frame["chat_id"] = rng.choice(chats)
    else:
        frame["model"] = TEST_MODEL
    count = rng.choice((1, 1, 2, 3))
    units = _parts(frame, count) if count > 1 else [frame]
    deliveries = list(units)
    deliveries += [rng.choice(units) for _ in range(rng.randint(0, 3))]  # duplicates
    rng.shuffle(deliveries)
    connections = [harness.connect(user) for _ in range(rng.randint(1, 3))]
    # Some deliveries race (threads released together), the rest follow one by one:
    # before the ack, mid-answer, or after it ended.
    racing = rng.randint(1, len(deliveries))
    _send_all_at_once(harness, [(rng.choice(connections), d) for d in deliveries[:racing]])
    for d in deliveries[racing:]:
        if rng.random() < 0.5:
            _wait_until_ended(harness, db_url)
        harness.send(rng.choice(connections), d)
    retry_after = rng.random() < 0.3
    if retry_after:  # a late retry of the whole message on a new connection
        late = harness.connect(user)
        connections.append(late)
        _wait_until_ended(harness, db_url)
        harness.send(late, units[-1] if count > 1 else frame)
    _wait_until_ended(harness, db_url)
    return {"cmid": cmid, "text": text, "connections": connections, "frame": frame}


@pytest.mark.parametrize("seed", [7])
def test_random_retries_races_and_parts_never_duplicate_or_lose(harness, alice, db_url, seed):
    rng = random.Random(seed)
    chats: list[str] = []
    for n in range(24):
        result = _trial(harness, rng, alice, db_url, chats, n)
        ledger = _ledger(db_url, result["cmid"])
        acks = [f for f in _frames_for(harness, result["connections"], result["cmid"]) if f["type"] == "ack"]
        for connection_id in result["connections"]:
            harness.disconnect(connection_id)
        assert [q[2] for q in ledger["questions"]] == [result["text"]], (n, ledger)  # one, and nothing lost
        assert (len(ledger["answers"]), len(ledger["calls"])) == (1, 1), (n, ledger)
        accepted = [a for a in acks if "user_message_id" in a]
        assert sum(a["created"] for a in accepted) == 1, (n, acks)
        assert {a["user_message_id"] for a in accepted} == {ledger["questions"][0][0]}
        assert ledger["answers"][0][1] == "complete"
        chats.append(ledger["questions"][0][1])
    assert _rows(db_url, "SELECT count(*) FROM upload_parts") == [(0,)]


def test_a_refused_send_names_its_client_message_id(harness, alice):
    conn = harness.connect(alice)
    harness.send(conn, {"action": "chat.send", "content": "hi", "client_message_id": "refused-1",
                        "chat_id": "no-such-chat"})
    error = harness.frames(conn)[-1]
    assert (error["type"], error["code"], error["client_message_id"]) == ("error", "chat_not_found", "refused-1")

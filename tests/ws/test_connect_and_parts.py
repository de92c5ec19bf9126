"""The authorizer on $connect, messages larger than one frame, and outbound size limits."""

from __future__ import annotations

import json

from omnichat.auth.principal import Principal
from omnichat.streaming import frames as frames_mod
from tests.helpers import make_user
from tests.ws.conftest import TEST_MODEL
from tests.ws.harness import answer_text, of_type


def effect(decision: dict) -> str:
    return decision["policyDocument"]["Statement"][0]["Effect"]


def test_authorizer_allows_a_fresh_ticket_once(harness, alice):
    signed_in = harness.signed_in(alice)
    ticket = harness.ticket_for(signed_in)
    first = harness.authorize(ticket)
    assert effect(first) == "Allow" and first["context"] == {"userId": alice.user_id, "role": "admin",
                                                              "email": alice.email,
                                                              "sessionId": signed_in.session_id}
    assert all(isinstance(v, (str, int, float, bool)) for v in first["context"].values())
    assert effect(harness.authorize(ticket)) == "Deny"


def test_authorizer_denies_missing_forged_and_pending(harness, db_url):
    assert effect(harness.authorize(None)) == "Deny"
    assert effect(harness.authorize("wst_forged")) == "Deny"
    pending = make_user(db_url, "pending@example.com", "pending")
    assert effect(harness.authorize(harness.ticket_for(Principal(pending.user_id, pending.email, "pending")))) == "Deny"


def test_a_message_sent_in_parts_is_handled_as_one(harness, alice, db_url):
    conn = harness.connect(alice)
    content = ("word " * 12_000) + "[[tokens=3]]"  # ~60 KB: more than one 32 KB frame
    parts = [content[i:i + 20_000] for i in range(0, len(content), 20_000)]
    for index, part in enumerate(parts):
        frame = {"action": "chat.send", "client_message_id": "big-1", "content": part,
                 "part": {"index": index, "count": len(parts)}, "model": TEST_MODEL}
        assert len(json.dumps(frame).encode()) < 32 * 1024
        harness.send(conn, frame)
    acks = of_type(harness.frames(conn), "ack")
    assert [a.get("part", {}).get("index") for a in acks[:-1]] == list(range(len(parts) - 1))
    assert of_type(harness.frames(conn), "message.done")[0]["status"] == "complete"
    from omnichat.db.engine import session_scope
    from omnichat.db.models import Message

    with session_scope(db_url) as db:
        assert db.get(Message, acks[-1]["user_message_id"]).content == content


def test_snapshots_of_long_answers_fit_api_gateway_limits():
    text = "ü\u0001" * 150_000  # multi-byte and escaped characters: the worst case for size
    events = list(frames_mod.snapshots("c", "m", text, "r" * 70_000, "complete"))
    assert len(events) > 1 and events[-1]["last"] is True
    assert all(len(frames_mod.encode(e)) <= frames_mod.MAX_POST_BYTES for e in events)
    assert answer_text(events, "m") == text
    in_order = sorted(events, key=lambda e: e.get("reasoning_offset", 0))
    assert "".join(e.get("reasoning", "") for e in in_order) == "r" * 70_000

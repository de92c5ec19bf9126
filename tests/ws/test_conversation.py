"""A whole conversation through the WebSocket Lambdas: send, stream, stop, regenerate,
edit, resume, with everything persisted."""

from __future__ import annotations

import time

from sqlalchemy import select

from omnichat.db.engine import session_scope
from omnichat.db.models import Chat, Message, UsageRecord
from tests.ws.conftest import BEDROCK_MODEL, TEST_MODEL
from tests.ws.harness import answer_text, of_type


def send(h, conn, content, **extra):
    frame = {"action": "chat.send", "content": content, "client_message_id": f"c-{time.monotonic_ns()}",
             "model": TEST_MODEL, **extra}
    h.send(conn, frame)
    return h.frames(conn)


def start_answer(h, conn, content, client_message_id):
    """Send in the background and wait for the first delta: (the sender's thread, the
    message.started frame)."""
    frame = {"action": "chat.send", "content": content, "client_message_id": client_message_id, "model": TEST_MODEL}
    worker = h.send_in_background(conn, frame)
    return worker, of_type(h.wait_for(conn, lambda f: f["type"] == "delta"), "message.started")[0]


def messages(db_url, chat_id):
    with session_scope(db_url) as db:
        return list(db.scalars(select(Message).where(Message.chat_id == chat_id).order_by(Message.id)))


def test_send_streams_an_answer_and_saves_both_messages(harness, alice, db_url):
    conn = harness.connect(alice)
    frames = send(harness, conn, "hello there [[tokens=40]]")
    ack = of_type(frames, "ack")[0]
    started = of_type(frames, "message.started")[0]
    done = of_type(frames, "message.done")[0]
    assert ack["created"] is True and started["message_id"] == ack["assistant_message_id"] == done["message_id"]
    assert done["status"] == "complete" and done["usage"]["output_tokens"] == 40
    text = answer_text(frames, done["message_id"])
    assert len(text.split()) == 40
    # Coalesced: far fewer frames than tokens.
    assert 1 <= len(of_type(frames, "delta")) < 40
    saved = messages(db_url, ack["chat_id"])
    assert [(m.role, m.status) for m in saved] == [("user", "complete"), ("assistant", "complete")]
    assert saved[0].content == "hello there [[tokens=40]]" and saved[1].content == text
    title = of_type(frames, "chat.title")[0]
    with session_scope(db_url) as db:
        chat = db.get(Chat, ack["chat_id"])
        usage = list(db.scalars(select(UsageRecord).where(UsageRecord.chat_id == chat.id)))
    assert chat.title == title["title"] != "New chat" and chat.current_leaf_id == done["message_id"]
    chat_rows = [u for u in usage if u.source == "chat"]
    assert len(chat_rows) == 1 and chat_rows[0].outcome == "complete" and chat_rows[0].output_tokens == 40
    assert chat_rows[0].ttft_ms is not None and chat_rows[0].model == TEST_MODEL


def test_a_retried_send_never_duplicates(harness, alice, db_url):
    conn = harness.connect(alice)
    frame = {"action": "chat.send", "content": "once [[tokens=5]]", "client_message_id": "retry-1", "model": TEST_MODEL}
    harness.send(conn, frame)
    chat_id = of_type(harness.frames(conn), "ack")[0]["chat_id"]
    harness.send(conn, {**frame, "chat_id": chat_id})
    acks = of_type(harness.frames(conn), "ack")
    assert acks[1]["created"] is False and acks[1]["user_message_id"] == acks[0]["user_message_id"]
    assert len(messages(db_url, chat_id)) == 2
    assert len(of_type(harness.frames(conn), "message.done")) == 2  # the replay ends with done too


def test_follow_up_questions_continue_the_chat(harness, alice, db_url):
    conn = harness.connect(alice)
    first = of_type(send(harness, conn, "one [[tokens=3]]"), "ack")[0]
    send(harness, conn, "two [[tokens=3]]", chat_id=first["chat_id"])
    saved = messages(db_url, first["chat_id"])
    assert [m.role for m in saved] == ["user", "assistant", "user", "assistant"]
    assert saved[2].parent_id == saved[1].id and saved[3].parent_id == saved[2].id


def test_stop_ends_the_answer_within_a_second_and_keeps_it(harness, alice, db_url):
    # The engine emits 50 tokens a second: "within a second" is at most 50 more tokens
    # after the stop was asked than the client had seen when it asked.
    conn = harness.connect(alice)
    worker, started = start_answer(harness, conn, "long [[tokens=2000]] [[rate=50]]", "stop-1")
    seen_when_asked = len(answer_text(harness.frames(conn), started["message_id"]).split())
    stopper = harness.connect(alice)  # any of the user's connections may stop it
    harness.send(stopper, {"action": "chat.stop", "chat_id": started["chat_id"], "message_id": started["message_id"]})
    worker.join(10)
    assert not worker.is_alive()
    done = of_type(harness.frames(conn), "message.done")[0]
    assert done["status"] == "stopped"
    saved = messages(db_url, started["chat_id"])[-1]
    assert saved.status == "stopped" and saved.content == answer_text(harness.frames(conn), saved.id) != ""
    assert len(saved.content.split()) - seen_when_asked <= 50
    harness.send(stopper, {"action": "chat.stop", "chat_id": started["chat_id"], "message_id": started["message_id"]})
    assert of_type(harness.frames(stopper), "error")[-1]["code"] == "not_streaming"


def test_regenerate_makes_a_sibling_answer(harness, alice, db_url):
    conn = harness.connect(alice)
    ack = of_type(send(harness, conn, "question [[tokens=4]]"), "ack")[0]
    harness.send(conn, {"action": "chat.regenerate", "chat_id": ack["chat_id"],
                        "message_id": ack["assistant_message_id"]})
    second = of_type(harness.frames(conn), "ack")[-1]
    assert second["user_message_id"] == ack["user_message_id"]
    answers = [m for m in messages(db_url, ack["chat_id"]) if m.role == "assistant"]
    assert len(answers) == 2 and answers[0].parent_id == answers[1].parent_id
    with session_scope(db_url) as db:
        assert db.get(Chat, ack["chat_id"]).current_leaf_id == second["assistant_message_id"]


def test_edit_branches_and_answers(harness, alice, db_url):
    conn = harness.connect(alice)
    ack = of_type(send(harness, conn, "first try [[tokens=4]]"), "ack")[0]
    harness.send(conn, {"action": "chat.edit", "chat_id": ack["chat_id"], "message_id": ack["user_message_id"],
                        "content": "second try [[echo=1]]", "client_message_id": "edit-1"})
    edited = of_type(harness.frames(conn), "ack")[-1]
    done = of_type(harness.frames(conn), "message.done")[-1]
    assert edited["user_message_id"] != ack["user_message_id"]
    assert answer_text(harness.frames(conn), done["message_id"]).strip() == "second try"
    saved = {m.id: m for m in messages(db_url, ack["chat_id"])}
    assert saved[edited["user_message_id"]].parent_id is None and saved[ack["user_message_id"]].parent_id is None


def test_resume_on_a_new_connection_gets_the_text_so_far_then_the_rest(harness, alice, db_url):
    first = harness.connect(alice)
    worker, started = start_answer(harness, first, "story [[tokens=150]] [[rate=100]]", "r-1")
    harness.disconnect(first)  # the page reloads
    second = harness.connect(alice)
    harness.send(second, {"action": "chat.resume", "chat_id": started["chat_id"]})
    assert of_type(harness.frames(second), "ack")[0]["streaming"] is True
    worker.join(20)
    frames = harness.frames(second)
    assert frames[1]["type"] == "message.snapshot" or of_type(frames, "message.snapshot")
    done = of_type(frames, "message.done")[0]
    saved = messages(db_url, started["chat_id"])[-1]
    assert done["status"] == "complete" and saved.status == "complete"
    assert answer_text(frames, saved.id) == saved.content and len(saved.content.split()) == 150


def test_resume_after_the_answer_ended_replays_it(harness, alice):
    conn = harness.connect(alice)
    done = of_type(send(harness, conn, "short [[tokens=6]]"), "message.done")[0]
    other = harness.connect(alice)
    harness.send(other, {"action": "chat.resume", "chat_id": done["chat_id"], "message_id": done["message_id"]})
    frames = harness.frames(other)
    assert of_type(frames, "message.done")[0]["status"] == "complete"
    assert answer_text(frames, done["message_id"]) == answer_text(harness.frames(conn), done["message_id"])


def test_a_client_that_disconnects_mid_answer_still_gets_it_saved(harness, alice, db_url):
    conn = harness.connect(alice)
    worker, started = start_answer(harness, conn, "go [[tokens=80]] [[rate=200]]", "d-1")
    harness.disconnect(conn)
    worker.join(20)
    saved = messages(db_url, started["chat_id"])[-1]
    assert saved.status == "complete" and len(saved.content.split()) == 80


def test_a_model_failing_mid_answer_keeps_the_partial_text(harness, alice, db_url, bedrock):
    bedrock.app.state.emulator.faults.midstream(after_deltas=5)
    conn = harness.connect(alice)
    frames = send(harness, conn, "fail please [[tokens=30]]", model=BEDROCK_MODEL)
    done = of_type(frames, "message.done")[0]
    error = of_type(frames, "error")[0]
    assert done["status"] == "error" and error["message_id"] == done["message_id"] and error["code"]
    saved = messages(db_url, done["chat_id"])[-1]
    assert saved.status == "error" and saved.content and saved.error["code"] == error["code"]
    assert saved.content == answer_text(frames, saved.id)
    with session_scope(db_url) as db:
        row = db.scalar(select(UsageRecord).where(UsageRecord.message_id == saved.id))
    assert row.outcome == "error" and row.provider == "bedrock"


def test_bedrock_models_stream_too(harness, alice, db_url):
    conn = harness.connect(alice)
    done = of_type(send(harness, conn, "hi [[tokens=12]]", model=BEDROCK_MODEL), "message.done")[0]
    assert done["status"] == "complete" and done["usage"]["input_tokens"] > 0

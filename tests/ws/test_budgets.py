"""Budgets on the WebSocket: a send its budget does not cover is answered with a
`budget_exceeded` error event (with the remaining budget and when to retry) and saves
nothing; an answer settles its reservation with what it used; a title beyond the budget
is the question's first words, without a model call."""

from __future__ import annotations

from sqlalchemy import func, select

from omnichat.billing import budgets
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.models import BudgetReservation, Chat, Message, UsageRecord
from tests.ws.harness import of_type
from tests.ws.test_conversation import send


def count(db_url, model) -> int:  # type: ignore[no-untyped-def]
    with session_scope(db_url) as db:
        return int(db.scalar(select(func.count()).select_from(model)))


def set_budget(db_url, user_id, **limits) -> None:  # type: ignore[no-untyped-def]
    lite.run(db_url, lambda db: budgets.set_budget(db, "user", user_id, limits))


def test_a_send_beyond_the_budget_is_refused_and_saves_nothing(harness, bob, db_url):
    conn = harness.connect(bob)
    set_budget(db_url, bob.user_id, tokens_per_day=5000)
    frames = send(harness, conn, "hello [[tokens=30]]", params={"max_tokens": 100})
    done = of_type(frames, "message.done")[0]
    assert done["status"] == "complete"
    assert count(db_url, BudgetReservation) == 0  # settled by the answer's (and the title's) usage rows
    used = count(db_url, UsageRecord)
    chats, messages = count(db_url, Chat), count(db_url, Message)
    set_budget(db_url, bob.user_id, tokens_per_day=10)  # below what is used: effective at once
    frames = send(harness, conn, "once more", chat_id=done["chat_id"])[len(frames):]  # this send's
    [error] = of_type(frames, "error")
    assert error["code"] == "budget_exceeded" and error["chat_id"] == done["chat_id"]
    assert error["retry_after"] >= 1 and error["budget"]["remaining"]["tokens_per_day"] == 0
    assert not of_type(frames, "message.started")
    assert (count(db_url, Chat), count(db_url, Message), count(db_url, UsageRecord)) == (chats, messages, used)
    assert harness.send(conn, {"action": "ping"})  # the connection stays usable


def test_a_title_beyond_the_budget_is_the_questions_first_words(harness, bob, db_url):
    conn = harness.connect(bob)
    set_budget(db_url, bob.user_id, requests_per_minute=1)  # the answer, not its title
    frames = send(harness, conn, "plan a trip to Lisbon [[tokens=5]]")
    done = of_type(frames, "message.done")[0]
    [title] = of_type(frames, "chat.title")
    assert title["title"].startswith("plan a trip")
    with session_scope(db_url) as db:
        sources = list(db.scalars(select(UsageRecord.source)))
    assert sources == ["chat"] and done["status"] == "complete"

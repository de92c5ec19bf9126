"""Fallback chains on the WebSocket: the Bedrock emulator throttles (or breaks) the asked
model and the next model of its chain answers; the answer says which model answered (the
final event, the saved message, the usage row). Never a switch once text was sent, nor
on an error that retrying elsewhere cannot cure."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from omnichat.catalog import catalog
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.models import Chat, UsageRecord
from tests.ws.conftest import BEDROCK_MODEL
from tests.ws.harness import answer_text, of_type
from tests.ws.test_conversation import messages, send

NOVA = "bedrock/amazon.nova-micro-v1:0"
HAIKU_ID = BEDROCK_MODEL.removeprefix("bedrock/")


@pytest.fixture
def chain(harness, db_url, bedrock):
    """HAIKU falls back to NOVA; faults are this test's only."""
    lite.run(db_url, lambda db: catalog.save_model_settings(db, BEDROCK_MODEL, catalog.ModelSettings(fallbacks=[NOVA])))
    faults, journal = bedrock.app.state.emulator.faults, bedrock.app.state.emulator.journal
    faults.clear()
    journal.clear()
    yield faults, journal
    faults.clear()


def called(journal) -> list[str]:
    return [e["modelId"] for e in journal.entries("ConverseStream")]


def usage_row(db_url, message_id):
    with session_scope(db_url) as db:
        row = db.scalar(select(UsageRecord).where(UsageRecord.message_id == message_id))
        db.expunge_all()
        return row


def test_a_throttled_model_is_answered_by_its_fallback(harness, alice, db_url, chain):
    faults, journal = chain
    faults.error("ThrottlingException", times=10, model_id=HAIKU_ID)  # every attempt the provider makes
    conn = harness.connect(alice)
    frames = send(harness, conn, "hello [[tokens=12]]", model=BEDROCK_MODEL)
    started, done = of_type(frames, "message.started")[0], of_type(frames, "message.done")[0]
    assert started["model"] == BEDROCK_MODEL  # what was asked
    assert done["status"] == "complete" and done["model"] == NOVA and not of_type(frames, "error")
    assert NOVA.removeprefix("bedrock/") in called(journal) and HAIKU_ID in called(journal)
    saved = messages(db_url, done["chat_id"])[-1]
    assert saved.model == NOVA and saved.status == "complete" and saved.content == answer_text(frames, saved.id)
    row = usage_row(db_url, saved.id)
    assert row.model == NOVA and row.provider == "bedrock" and row.outcome == "complete"
    with session_scope(db_url) as db:
        assert db.get(Chat, done["chat_id"]).model == BEDROCK_MODEL  # the chat goes on with the model chosen
        title = db.scalar(select(UsageRecord).where(UsageRecord.source == "title"))
        assert title.model == NOVA and title.outcome == "complete"  # the title came through the chain too


def test_an_answer_from_the_asked_model_says_so(harness, alice, db_url, chain):
    conn = harness.connect(alice)
    done = of_type(send(harness, conn, "hi [[tokens=5]]", model=BEDROCK_MODEL), "message.done")[0]
    assert done["status"] == "complete" and done["model"] == BEDROCK_MODEL
    assert set(called(chain[1])) == {HAIKU_ID}  # the answer, then the chat's title


def failed_on_the_asked_model(harness, alice, journal, text: str, code: str):  # type: ignore[no-untyped-def]
    """Sends `text` to BEDROCK_MODEL and checks that it failed with `code` there, no other model called:
    the frames and the message.done frame."""
    frames = send(harness, harness.connect(alice), text, model=BEDROCK_MODEL)
    done = of_type(frames, "message.done")[0]
    assert done["status"] == "error" and done["model"] == BEDROCK_MODEL
    assert of_type(frames, "error")[0]["code"] == code
    assert called(journal) == [HAIKU_ID]
    return frames, done


def test_a_failure_after_the_first_token_never_switches(harness, alice, db_url, chain):
    faults, journal = chain
    faults.midstream(after_deltas=3, code="serviceUnavailableException", model_id=HAIKU_ID)  # retryable, but late
    frames, done = failed_on_the_asked_model(harness, alice, journal, "go on [[tokens=30]]", "provider_unavailable")
    saved = messages(db_url, done["chat_id"])[-1]
    assert saved.model == BEDROCK_MODEL and saved.content and saved.content == answer_text(frames, saved.id)
    assert usage_row(db_url, saved.id).model == BEDROCK_MODEL


def test_an_error_that_is_not_retryable_never_switches(harness, alice, db_url, chain):
    faults, journal = chain
    faults.error("ValidationException", message="bad input", model_id=HAIKU_ID)
    failed_on_the_asked_model(harness, alice, journal, "hi [[tokens=5]]", "invalid_request")


def test_a_fallback_the_user_may_not_use_is_skipped(harness, alice, bob, db_url, chain):
    faults, journal = chain
    lite.run(db_url, lambda db: catalog.save_model_settings(db, NOVA, catalog.ModelSettings(visibility="admins")))
    faults.error("ThrottlingException", times=10, model_id=HAIKU_ID)
    conn = harness.connect(bob)
    frames = send(harness, conn, "hi [[tokens=5]]", model=BEDROCK_MODEL)
    done = of_type(frames, "message.done")[0]
    assert done["status"] == "error" and of_type(frames, "error")[0]["code"] == "throttled"
    assert NOVA.removeprefix("bedrock/") not in called(journal)

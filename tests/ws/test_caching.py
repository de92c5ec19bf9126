"""Prompt caching in a WebSocket chat: a chat with a long system prompt on a caching
Bedrock model writes the prefix on its first answer and reads it on the next, and the
request log keeps both."""

from __future__ import annotations

import time

from sqlalchemy import select

from omnichat.db.engine import session_scope
from omnichat.db.models import UsageRecord
from tests.ws.harness import of_type

CACHING_MODEL = "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0"  # minimum 1,024 tokens
SYSTEM_WORDS = 1100


def test_the_second_answer_reads_what_the_first_wrote(harness, alice, db_url, bedrock):
    bedrock.app.state.emulator.cache.clear()
    system = " ".join(f"rule{i:05d}" for i in range(SYSTEM_WORDS))
    conn = harness.connect(alice)
    frame = {"action": "chat.send", "model": CACHING_MODEL, "system_prompt": system}
    harness.send(conn, {**frame, "content": "first [[tokens=3]]", "client_message_id": f"a-{time.monotonic_ns()}"})
    first = harness.frames(conn)
    chat_id = of_type(first, "ack")[0]["chat_id"]
    assert of_type(first, "message.done")[0]["status"] == "complete"
    harness.send(conn, {**frame, "chat_id": chat_id, "content": "second [[tokens=3]]",
                        "client_message_id": f"b-{time.monotonic_ns()}"})
    assert of_type(harness.frames(conn), "message.done")[0]["status"] == "complete"

    with session_scope(db_url) as db:
        rows = list(db.scalars(select(UsageRecord).where(UsageRecord.chat_id == chat_id, UsageRecord.source == "chat")
                               .order_by(UsageRecord.created_at)))
        written, read = [(r.cache_write_tokens, r.cache_read_tokens) for r in rows]
    assert written == (SYSTEM_WORDS, 0) and read == (0, SYSTEM_WORDS)

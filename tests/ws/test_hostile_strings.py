"""Strings no database can store (a lone surrogate, NUL) in a WebSocket frame: an
`invalid_request` error naming the field, nothing saved, and the connection stays usable
(omnichat.checks.string, shared with /v1)."""

from __future__ import annotations

import pytest

from omnichat.db import lite
from tests.ws.conftest import TEST_MODEL
from tests.ws.harness import of_type


@pytest.mark.parametrize("field, escaped", [
    ("content", "hi \\ud800"), ("content", "a\\u0000b"), ("client_message_id", "\\udfff"),
    ("system_prompt", "\\ud83d alone"), ("request_id", "\\ud800"),
])
def test_unstorable_text_is_an_invalid_request(harness, alice, db_url, field, escaped):
    conn = harness.connect(alice)
    fields = {"content": '"hello"', "client_message_id": '"c-1"', "model": f'"{TEST_MODEL}"',
              field: f'"{escaped}"'}
    body = "{" + ", ".join(f'"{k}": {v}' for k, v in {"action": '"chat.send"', **fields}.items()) + "}"
    assert harness.send_raw(conn, body)["statusCode"] == 200
    errors = of_type(harness.frames(conn), "error")
    assert errors and errors[-1]["code"] == "invalid_request" and field in errors[-1]["message"], errors
    assert not of_type(harness.frames(conn), "ack")
    assert harness.send(conn, {"action": "ping"})["statusCode"] == 200
    assert of_type(harness.frames(conn), "pong")
    assert lite.run(db_url, lambda db: db.execute("SELECT count(*) FROM messages").fetchone()[0]) == 0

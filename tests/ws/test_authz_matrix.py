"""The WebSocket's authorization matrix: every action × every kind of sender.

Senders, each on a connection opened while its credential stood: an admin and a user
(sessions), an account set back to pending since, an account deleted since, an API key
revoked since, and a session signed out since. Each action's rule is declared once, in
`ws.dispatcher.POLICIES` (rules from omnichat.auth.policies); a refused sender gets the
code every surface answers for its condition (tests/refusals.py), and a sender whose
credential no longer stands is disconnected. Allowed senders get past authorization to
the action's own answer (frames aimed at a missing chat, to keep every case cheap).
`test_matrix_covers_every_action` fails when an action is added without a row here."""

from __future__ import annotations

import pytest

from omnichat.auth import api_keys, users
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.models import User
from omnichat.ws import schemas
from omnichat.ws.dispatcher import POLICIES
from tests.helpers import make_user
from tests.refusals import REFUSALS
from tests.ws.harness import of_type

SENDERS = ("admin", "user", "pending", "deleted", "revoked_key", "signed_out")
MISSING = "00000000-0000-7000-8000-000000000000"

# action -> (policy, frame, what an admitted sender gets: a frame type, or an error code)
MATRIX: dict[str, tuple[str, dict, str]] = {
    "ping": ("active", {}, "pong"),
    "chat.send": ("active", {"chat_id": MISSING, "content": "hi", "client_message_id": "m1"}, "chat_not_found"),
    "chat.stop": ("active", {"chat_id": MISSING, "message_id": MISSING}, "chat_not_found"),
    "chat.regenerate": ("active", {"chat_id": MISSING, "message_id": MISSING}, "chat_not_found"),
    "chat.edit": ("active", {"chat_id": MISSING, "message_id": MISSING, "content": "x", "client_message_id": "m2"},
                  "chat_not_found"),
    "chat.resume": ("active", {"chat_id": MISSING}, "chat_not_found"),
    "model.pull": ("admin", {"model": "bedrock/not-pullable"}, "invalid_request"),  # only ollama/ models pull
}


def expected(policy: str, sender: str, admitted: str) -> tuple[str, bool]:
    """What the sender gets (a frame type or an error code) and whether the server closes
    the connection."""
    if sender == "admin" or (sender == "user" and policy == "active"):
        return admitted, False
    if sender == "user":
        return REFUSALS["not_admin"][1], False
    return REFUSALS[sender][1], True


def test_matrix_covers_every_action():
    assert set(MATRIX) == set(schemas.ACTIONS) == set(POLICIES)
    assert {action: row[0] for action, row in MATRIX.items()} == POLICIES


def open_connections(harness, db_url: str) -> dict[str, str]:
    """One connection per sender, each opened while its credential stood, then the
    change that makes it what it is."""
    admin, user = make_user(db_url, "admin@example.com", "admin"), make_user(db_url, "user@example.com")
    pending, deleted = make_user(db_url, "pending@example.com"), make_user(db_url, "deleted@example.com")
    key_holder, leaver = make_user(db_url, "key@example.com"), make_user(db_url, "leaver@example.com")
    by_key, session = harness.with_api_key(key_holder), harness.signed_in(leaver)
    conns = {"admin": harness.connect(admin), "user": harness.connect(user), "pending": harness.connect(pending),
             "deleted": harness.connect(deleted), "revoked_key": harness.connect(by_key),
             "signed_out": harness.connect(session)}
    with session_scope(db_url) as db:
        db.get(User, pending.user_id).role = "pending"
        db.delete(db.get(User, deleted.user_id))
    lite.run(db_url, lambda db: api_keys.revoke(db, by_key, by_key.api_key_id))
    lite.run(db_url, lambda db: users.sign_out(db, session))
    return conns


@pytest.mark.parametrize("action", sorted(MATRIX))
def test_action_for_every_sender(harness, db_url, action):
    policy, fields, admitted = MATRIX[action]
    conns = open_connections(harness, db_url)
    outcomes = {}
    for sender, conn in conns.items():
        harness.send(conn, {"action": action, "request_id": f"{sender}-1", **fields})
        last = harness.frames(conn)[-1]
        outcomes[sender] = (last["code"] if last["type"] == "error" else last["type"], conn in harness.closed)
    assert outcomes == {sender: expected(policy, sender, admitted) for sender in SENDERS}
    for sender, conn in conns.items():  # a refusal on a connection that stands leaves it usable
        if not outcomes[sender][1]:
            harness.send(conn, {"action": "ping"})
            assert of_type(harness.frames(conn), "pong"), sender

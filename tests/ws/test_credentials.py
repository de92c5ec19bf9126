"""A connection lives on the credential its ticket was obtained with: revoke the API key,
sign out, change the password, demote or delete the account, and the next frame is
answered with the REST API's code for that condition and the connection is closed
(DeleteConnection); an answer streaming to it is saved in full but no longer delivered.
Also: the per-user connection limit at $connect."""

from __future__ import annotations

import threading

import pytest

from omnichat.auth import api_keys, users
from omnichat.auth.principal import Principal
from omnichat.config import get_settings
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.models import Connection, Message, User
from tests.ws.conftest import TEST_MODEL
from tests.ws.harness import answer_text, of_type


def effect(decision: dict) -> str:
    return decision["policyDocument"]["Statement"][0]["Effect"]


def ping(harness, conn: str) -> list[dict]:
    harness.send(conn, {"action": "ping", "request_id": "p"})
    return harness.frames(conn)


def assert_usable(harness, conn: str) -> None:
    before = len(of_type(harness.frames(conn), "pong"))
    assert len(of_type(ping(harness, conn), "pong")) == before + 1
    assert conn not in harness.closed


def assert_ended(harness, conn: str, code: str) -> None:
    """The last frame is an error with `code`, and the server closed the connection."""
    frames = harness.frames(conn)
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == code, frames[-3:]
    assert frames[-1]["message"]
    assert conn in harness.closed, "the server did not close the connection"


def revoke_key(db_url: str, principal: Principal) -> None:
    assert principal.api_key_id
    lite.run(db_url, lambda db: api_keys.revoke(db, principal, principal.api_key_id))


def sign_out(db_url: str, principal: Principal) -> None:
    lite.run(db_url, lambda db: users.sign_out(db, principal))


def test_the_authorizer_passes_on_the_credential_of_the_ticket(harness, bob):
    by_session = harness.signed_in(bob)
    decision = harness.authorize(harness.ticket_for(by_session))
    assert effect(decision) == "Allow" and decision["context"]["sessionId"] == by_session.session_id
    assert "apiKeyId" not in decision["context"]
    by_key = harness.with_api_key(bob)
    decision = harness.authorize(harness.ticket_for(by_key))
    assert decision["context"]["apiKeyId"] == by_key.api_key_id and "sessionId" not in decision["context"]
    assert all(isinstance(v, (str, int, float, bool)) for v in decision["context"].values())


def test_a_ticket_whose_credential_ended_before_it_was_used_is_refused(harness, bob, db_url):
    by_session, by_key = harness.signed_in(bob), harness.with_api_key(bob)
    tickets = harness.ticket_for(by_session), harness.ticket_for(by_key)
    sign_out(db_url, by_session)
    revoke_key(db_url, by_key)
    assert [effect(harness.authorize(t)) for t in tickets] == ["Deny", "Deny"]


def test_revoking_the_api_key_ends_its_connections_only(harness, bob, db_url):
    by_key = harness.with_api_key(bob)
    revoked, other_key, by_session = (harness.connect(by_key), harness.connect(harness.with_api_key(bob)),
                                      harness.connect(bob))
    assert_usable(harness, revoked)
    revoke_key(db_url, by_key)
    ping(harness, revoked)
    assert_ended(harness, revoked, "invalid_api_key")
    assert_usable(harness, other_key)
    assert_usable(harness, by_session)


def test_signing_out_ends_the_sessions_connections_only(harness, bob, db_url):
    session = harness.signed_in(bob)
    mine, also_mine, elsewhere = harness.connect(session), harness.connect(session), harness.connect(bob)
    sign_out(db_url, session)
    harness.send(mine, {"action": "chat.send", "content": "hi", "client_message_id": "s", "model": TEST_MODEL})
    assert_ended(harness, mine, "session_ended")
    ping(harness, also_mine)
    assert_ended(harness, also_mine, "session_ended")
    assert_usable(harness, elsewhere)
    with session_scope(db_url) as db:
        assert db.query(Message).count() == 0  # the refused send saved nothing


def test_a_password_change_ends_every_other_sessions_connections(harness, bob, db_url):
    from omnichat.auth import passwords

    with session_scope(db_url) as db:
        db.get(User, bob.user_id).password_hash = passwords.hash_password("old password 1")
    changer, other = harness.signed_in(bob), harness.signed_in(bob)
    on_changer, on_other = harness.connect(changer), harness.connect(other)
    lite.run(db_url, lambda db: users.change_password(db, changer, "old password 1", "a new passphrase 2"))
    ping(harness, on_other)
    assert_ended(harness, on_other, "session_ended")
    assert_usable(harness, on_changer)


def test_an_account_set_back_to_pending_or_deleted_is_disconnected(harness, bob, db_url):
    pending_conn = harness.connect(bob)
    with session_scope(db_url) as db:
        db.get(User, bob.user_id).role = "pending"
    ping(harness, pending_conn)
    assert_ended(harness, pending_conn, "account_pending")
    with session_scope(db_url) as db:
        db.get(User, bob.user_id).role = "user"
    by_session, by_key = harness.connect(bob), harness.connect(harness.with_api_key(bob))
    with session_scope(db_url) as db:
        db.delete(db.get(User, bob.user_id))
    ping(harness, by_session)
    assert_ended(harness, by_session, "session_ended")
    ping(harness, by_key)
    assert_ended(harness, by_key, "invalid_api_key")


def test_any_frame_on_an_ended_connection_is_answered_so(harness, bob, db_url):
    session = harness.signed_in(bob)
    conn = harness.connect(session)
    sign_out(db_url, session)
    harness.send_raw(conn, "not json")  # even a malformed frame: the credential is checked first
    assert_ended(harness, conn, "session_ended")


def test_an_answer_streaming_to_a_revoked_connection_is_saved_but_no_longer_delivered(harness, bob, db_url):
    session = harness.signed_in(bob)
    revoked, watcher = harness.connect(session), harness.connect(bob)
    # ~3 s of answer at 100 tokens/s: the relay polls every 0.5 s, so it sees the sign-out
    # long before the end.
    sender = harness.send_in_background(revoked, {"action": "chat.send", "client_message_id": "long",
                                                  "content": "[[tokens=300]] [[rate=100]]", "model": TEST_MODEL})
    frames = harness.wait_for(revoked, lambda f: f["type"] == "delta")
    answer_id = of_type(frames, "message.started")[0]["message_id"]
    chat_id = of_type(frames, "ack")[0]["chat_id"]
    harness.send(watcher, {"action": "chat.resume", "chat_id": chat_id, "message_id": answer_id})
    sign_out(db_url, session)
    sender.join(timeout=60)
    assert not sender.is_alive()
    watched = harness.wait_for(watcher, lambda f: f["type"] == "message.done")
    with session_scope(db_url) as db:
        saved = db.get(Message, answer_id)
        assert saved.status == "complete" and saved.usage["output_tokens"] == 300
        full = saved.content
    assert answer_text(watched, answer_id) == full  # the connection that still stands got it all
    delivered = harness.frames(revoked)
    assert not of_type(delivered, "message.done"), "the revoked connection was sent the end of the answer"
    assert full.startswith(answer_text(delivered, answer_id)) and len(answer_text(delivered, answer_id)) < len(full)
    ping(harness, revoked)
    assert_ended(harness, revoked, "session_ended")


# ---- the per-user connection limit ----------------------------------------------------------
@pytest.fixture
def limit_of_three(monkeypatch):
    monkeypatch.setenv("OMNICHAT_WS_MAX_CONNECTIONS_PER_USER", "3")
    get_settings.cache_clear()
    yield 3
    get_settings.cache_clear()


def test_connections_beyond_the_limit_are_refused_at_connect(harness, alice, bob, limit_of_three, db_url):
    import json

    first = [harness.connect(bob) for _ in range(3)]
    refused_id, refused = harness.try_connect(bob)
    assert refused["statusCode"] == 429
    assert json.loads(refused["body"])["error"]["code"] == "too_many_connections"
    harness.connect(alice)  # another user is not affected
    harness.disconnect(first[0])  # a closed connection frees its place
    harness.connect(bob)
    with session_scope(db_url) as db:
        assert db.query(Connection).filter_by(user_id=bob.user_id).count() == 3
        assert db.get(Connection, refused_id) is None


def test_a_connection_older_than_two_hours_no_longer_counts(harness, bob, limit_of_three, db_url):
    from datetime import timedelta

    conns = [harness.connect(bob) for _ in range(3)]
    assert harness.try_connect(bob)[1]["statusCode"] == 429
    with session_scope(db_url) as db:  # its $disconnect never came: API Gateway closed it at 2 h
        db.get(Connection, conns[0]).connected_at -= timedelta(hours=2, minutes=1)
    harness.connect(bob)
    with session_scope(db_url) as db:
        assert db.get(Connection, conns[0]) is None  # the stale row is gone


def test_concurrent_connects_of_one_user_respect_the_limit(harness, bob, limit_of_three, db_url):
    tickets = [harness.ticket_for(bob) for _ in range(12)]
    statuses: list[int] = []
    start = threading.Barrier(len(tickets))

    def connect(ticket: str) -> None:
        import uuid

        from tests.ws.harness import FUNCTIONS, _context, event_from

        decision = harness.authorize(ticket)
        context = {"principalId": decision["principalId"], **decision["context"]}
        event = event_from("connect", uuid.uuid4().hex[:14] + "=", context)
        start.wait(timeout=30)
        statuses.append(FUNCTIONS["ws_connect"].handler(event, _context("ws_connect"))["statusCode"])

    threads = [threading.Thread(target=connect, args=(t,)) for t in tickets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [200] * 3 + [429] * 9
    with session_scope(db_url) as db:
        assert db.query(Connection).filter_by(user_id=bob.user_id).count() == 3



def test_a_connect_for_another_protocol_version_is_refused_and_says_which_to_use(harness, alice):
    import json

    _, refused = harness.try_connect(alice, v="2")
    assert refused["statusCode"] == 400
    error = json.loads(refused["body"])["error"]
    assert error["code"] == "unsupported_version" and "connect with v=1" in error["message"], error
    assert harness.try_connect(alice, v=None)[1]["statusCode"] == 200  # no `v`: version 1

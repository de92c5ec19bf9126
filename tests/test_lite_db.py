"""omnichat.db.lite and the plain-SQL statements on it (tickets, the WebSocket connections,
credentials, settings, the request log), against the same tables the ORM writes and reads
(SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from omnichat import settings_store, usage
from omnichat.auth import api_keys, credentials, tickets, users
from omnichat.auth.principal import Principal
from omnichat.catalog import catalog
from omnichat.config import Settings
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.lite import Db
from omnichat.db.models import (
    ApiKey,
    AuthSession,
    Chat,
    Connection,
    Message,
    Setting,
    Stream,
    StreamSubscriber,
    UsageRecord,
    User,
)
from omnichat.errors import Unauthorized
from omnichat.ws import connections
from tests.helpers import make_user


def empty_pool() -> None:
    with lite._lock:
        for conns in lite._idle.values():
            for conn in conns:
                lite._close(conn)
        lite._idle.clear()


@pytest.fixture(autouse=True)
def fresh_pool():
    """These tests count the pooled connections: none before (the tests before them on this
    worker may have left two) and none after."""
    empty_pool()
    yield
    empty_pool()


def signed_in(url: str, principal: Principal) -> Principal:
    """The principal with a session, the credential a ticket is obtained with."""
    with session_scope(url) as db:
        session = AuthSession(user_id=principal.user_id, expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
        db.add(session)
        db.flush()
        return Principal(principal.user_id, principal.email, principal.role, session_id=session.id)


def issue(url: str, principal: Principal, ttl_s: int = 60) -> str:
    asking = signed_in(url, principal)
    return lite.run(url, lambda db: tickets.issue(db, Settings(ws_ticket_ttl_s=ttl_s), asking)[0])


def test_a_ticket_is_redeemed_once_by_its_user(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    ticket = issue(db_url, ada)
    redeemed = tickets.redeem(db_url, ticket)
    assert (redeemed.user_id, redeemed.email, redeemed.role) == (ada.user_id, ada.email, ada.role)
    assert redeemed.session_id is not None  # the credential the connection rides on
    with pytest.raises(Unauthorized):
        tickets.redeem(db_url, ticket)


def test_expired_unknown_and_pending_tickets_are_refused(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    pending = make_user(db_url, "pat@example.com", role="pending")
    for ticket in (issue(db_url, ada, ttl_s=-1), "wst_" + "x" * 32, issue(db_url, pending)):
        with pytest.raises(Unauthorized) as refused:
            tickets.redeem(db_url, ticket)
        assert refused.value.code == "invalid_ticket"


def test_concurrent_redemptions_of_one_ticket_let_exactly_one_in(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    ticket = issue(db_url, ada)
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def attempt() -> None:
        start.wait(timeout=10)
        try:
            tickets.redeem(db_url, ticket)
            outcomes.append("in")
        except Unauthorized:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["in"] + ["refused"] * 5


def test_connections_are_registered_and_forgotten_as_the_orm_sees_them(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    before = datetime.now(timezone.utc)
    connections.register(db_url, "conn-1=", ada.user_id, "https://old.example/prod")
    connections.register(db_url, "conn-1=", ada.user_id, "https://ws.example/prod")  # same id again
    connections.register(db_url, "conn-2=", ada.user_id, "https://ws.example/prod")
    with session_scope(db_url) as db:
        row = db.get(Connection, "conn-1=")
        assert row is not None and row.user_id == ada.user_id and row.endpoint == "https://ws.example/prod"
        assert before - timedelta(seconds=1) <= row.connected_at <= datetime.now(timezone.utc)
        chat = Chat(user_id=ada.user_id, title="t")
        db.add(chat)
        db.flush()
        answer = Message(chat_id=chat.id, role="assistant", content="")
        db.add(answer)
        db.flush()
        db.add(Stream(message_id=answer.id, chat_id=chat.id, user_id=ada.user_id))
        db.flush()
        db.add_all([StreamSubscriber(message_id=answer.id, connection_id=c) for c in ("conn-1=", "conn-2=")])

    connections.forget(db_url, "conn-1=")
    connections.forget(db_url, "never-seen=")  # a $disconnect for an unknown id is fine
    with session_scope(db_url) as db:
        assert db.scalars(select(Connection.connection_id)).all() == ["conn-2="]
        assert db.scalars(select(StreamSubscriber.connection_id)).all() == ["conn-2="]


def drop_pooled_connection(db_url: str) -> None:
    """As RDS Proxy does with an idle client: the server ends the pooled connection."""
    (pooled,) = lite._idle[db_url]
    cursor = pooled.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    pooled.commit()
    with session_scope(db_url) as db:
        db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_a_connection_the_server_dropped_is_replaced(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a server-side disconnect needs a server")
    ada = make_user(db_url, "ada@example.com")
    for conn in lite._idle.pop(db_url, []):  # one pooled connection from here on (earlier tests may leave more)
        lite._close(conn)
    connections.register(db_url, "c1=", ada.user_id, "")
    drop_pooled_connection(db_url)
    connections.register(db_url, "c2=", ada.user_id, "")  # lite.run: the work is run again
    drop_pooled_connection(db_url)
    with lite.transaction(db_url) as db:  # lite.transaction: the connection is checked first
        db.execute("INSERT INTO connections (connection_id, user_id, endpoint, connected_at) VALUES (?, ?, '', ?)",
                   "c3=", ada.user_id, lite.utcnow())
    with session_scope(db_url) as db:
        assert sorted(db.scalars(select(Connection.connection_id))) == ["c1=", "c2=", "c3="]


def test_a_failed_transaction_is_rolled_back_and_its_connection_reused(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    with pytest.raises(RuntimeError), lite.transaction(db_url) as db:
        db.execute("DELETE FROM users WHERE id = ?", ada.user_id)
        raise RuntimeError("the request failed")
    assert len(lite._idle[db_url]) == 1
    with lite.transaction(db_url) as db:
        assert [tuple(row) for row in db.execute("SELECT email FROM users").fetchall()] == [("ada@example.com",)]


def test_statements_run_in_an_orm_unit_of_work(db_url: str) -> None:
    """Db.of_session: the ORM's pending rows are visible to the statements, and the
    statements commit or roll back with the session."""
    with session_scope(db_url) as db:
        user = User(email="ada@example.com", password_hash="-", role="user")
        db.add(user)  # not flushed yet: of_session flushes it before the foreign key is needed
        usage.record(Db.of_session(db), usage.CallRecord(user_id=user.id, model="ollama/a:1", provider="ollama",
                                                         outcome="complete", ttft_ms=12.4, duration_ms=99.6))
        settings_store.set_value(Db.of_session(db), "model:ollama/a:1", {"enabled": False})
    with pytest.raises(RuntimeError), session_scope(db_url) as db:
        usage.record(Db.of_session(db), usage.CallRecord(user_id=user.id, model="ollama/b:1", provider="ollama",
                                                         outcome="error"))
        raise RuntimeError("the request failed after logging")
    with session_scope(db_url) as db:
        rows = db.scalars(select(UsageRecord)).all()
        assert [(r.model, r.user_id, r.ttft_ms, r.duration_ms) for r in rows] == [("ollama/a:1", user.id, 12, 100)]
        assert rows[0].created_at.tzinfo is not None
        assert db.get(Setting, "model:ollama/a:1").value == {"value": {"enabled": False}}
    assert lite.run(db_url, lambda db: catalog.all_model_settings(db)) == {
        "ollama/a:1": catalog.ModelSettings(enabled=False)}


def test_api_keys_and_sessions_resolve_as_the_orm_wrote_them(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    with lite.transaction(db_url) as db:
        row, key = api_keys.create(db, ada, "k")
        key_id = row.id
        token = users.start_session(db, Settings(), "s" * 32, users.get_user(db, ada.user_id))
    principal = lite.run(db_url, lambda db: credentials.authenticate(db, "", key))
    assert (principal.user_id, principal.api_key_id) == (ada.user_id, key_id)
    with session_scope(db_url) as db:
        used = db.get(ApiKey, key_id).last_used_at
        assert used is not None
    lite.run(db_url, lambda db: credentials.authenticate(db, "", key))  # within a minute: no second write
    with session_scope(db_url) as db:
        assert db.get(ApiKey, key_id).last_used_at == used
        db.get(ApiKey, key_id).last_used_at = used - timedelta(minutes=2)
    lite.run(db_url, lambda db: credentials.authenticate(db, "", key))  # a minute later: recorded again
    with session_scope(db_url) as db:
        assert db.get(ApiKey, key_id).last_used_at > used
    assert lite.run(db_url, lambda db: credentials.authenticate(db, "s" * 32, token)).user_id == ada.user_id
    with session_scope(db_url) as db:
        db.execute(update(AuthSession).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    with pytest.raises(Unauthorized) as ended:
        lite.run(db_url, lambda db: credentials.authenticate(db, "s" * 32, token))
    assert ended.value.code == "session_ended"

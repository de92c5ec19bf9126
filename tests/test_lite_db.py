"""omnichat.db.lite, the SQLAlchemy-free statements of the WebSocket connect path, against
the same tables the ORM writes and reads (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from omnichat.auth import tickets
from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.models import Chat, Connection, Message, Stream, StreamSubscriber
from omnichat.errors import Unauthorized
from tests.helpers import make_user


@pytest.fixture(autouse=True)
def fresh_pool():
    yield
    with lite._lock:
        for conns in lite._idle.values():
            for conn in conns:
                lite._close(conn)
        lite._idle.clear()


def issue(url: str, principal: Principal, ttl_s: int = 60) -> str:
    with session_scope(url) as db:
        return tickets.issue(db, Settings(ws_ticket_ttl_s=ttl_s), principal)[0]


def test_a_ticket_is_redeemed_once_by_its_user(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    ticket = issue(db_url, ada)
    assert lite.redeem_ticket(db_url, ticket) == ada
    with pytest.raises(Unauthorized):
        lite.redeem_ticket(db_url, ticket)


def test_expired_unknown_and_pending_tickets_are_refused(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    pending = make_user(db_url, "pat@example.com", role="pending")
    for ticket in (issue(db_url, ada, ttl_s=-1), "wst_" + "x" * 32, issue(db_url, pending)):
        with pytest.raises(Unauthorized) as refused:
            lite.redeem_ticket(db_url, ticket)
        assert refused.value.code == "invalid_ticket"


def test_concurrent_redemptions_of_one_ticket_let_exactly_one_in(db_url: str) -> None:
    ada = make_user(db_url, "ada@example.com")
    ticket = issue(db_url, ada)
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def attempt() -> None:
        start.wait(timeout=10)
        try:
            lite.redeem_ticket(db_url, ticket)
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
    lite.register_connection(db_url, "conn-1=", ada.user_id, "https://old.example/prod")
    lite.register_connection(db_url, "conn-1=", ada.user_id, "https://ws.example/prod")  # same id again
    lite.register_connection(db_url, "conn-2=", ada.user_id, "https://ws.example/prod")
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

    lite.forget_connection(db_url, "conn-1=")
    lite.forget_connection(db_url, "never-seen=")  # a $disconnect for an unknown id is fine
    with session_scope(db_url) as db:
        assert db.scalars(select(Connection.connection_id)).all() == ["conn-2="]
        assert db.scalars(select(StreamSubscriber.connection_id)).all() == ["conn-2="]


def test_a_connection_the_server_dropped_is_replaced(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a server-side disconnect needs a server")
    ada = make_user(db_url, "ada@example.com")
    lite.register_connection(db_url, "c1=", ada.user_id, "")
    (pooled,) = lite._idle[db_url]
    cursor = pooled.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    pooled.commit()
    with session_scope(db_url) as db:  # as RDS Proxy does with an idle client
        db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    lite.register_connection(db_url, "c2=", ada.user_id, "")
    with session_scope(db_url) as db:
        assert sorted(db.scalars(select(Connection.connection_id))) == ["c1=", "c2="]

"""Database access without SQLAlchemy, for the paths whose cold start it would dominate.

The authorizer, $connect and $disconnect run for every connection a browser opens, one
or two statements each, and the OpenAI gateway needs a handful (credentials, model
settings, the request log). Importing SQLAlchemy and the ORM models for them would be most
of their cold start (bench/cold_start.py), so they talk to the database through its
DB-API driver directly: sqlite3, or pg8000 as the engine does (same URL, same TLS
setting). The SQL is plain enough for both databases; the tables are models.py's.

Statements written against `Db` are the only implementation of what they do: ORM code
paths run them inside their own unit of work through `Db.of_session`.
tests/test_lite_db.py checks them against the ORM on both databases.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from omnichat.auth.opaque import hash_secret
from omnichat.auth.principal import Principal
from omnichat.errors import Unauthorized

T = TypeVar("T")
_lock = threading.Lock()
_idle: dict[str, list[Any]] = {}  # url -> open connections, reused while the function is warm


class Db:
    """One transaction: `?` placeholders on both databases, datetimes stored as
    UTCDateTime stores them."""

    def __init__(self, conn: Any, sqlite: bool) -> None:
        self._cursor, self._sqlite = conn.cursor(), sqlite

    def execute(self, sql: str, *params: Any) -> Any:
        values = [self._bind(p) for p in params]
        self._cursor.execute(sql if self._sqlite else sql.replace("?", "%s"), values)
        return self._cursor

    @classmethod
    def of_session(cls, session: Any) -> Db:
        """An ORM session's own connection and transaction. Its pending changes are
        flushed first, so the statements here and the ORM see one state."""
        session.flush()
        raw = session.connection().connection.dbapi_connection
        return cls(raw, session.get_bind().dialect.name == "sqlite")

    def _bind(self, value: Any) -> Any:
        if isinstance(value, datetime) and self._sqlite:  # SQLAlchemy's SQLite DATETIME format
            return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(value, dict):  # a JSON column: text, as SQLAlchemy's JSON type stores it
            return json.dumps(value)
        return value

    def has_table(self, name: str) -> bool:
        sql = ("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?" if self._sqlite else
               "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?")
        return self.execute(sql, name).fetchone() is not None

    @staticmethod
    def json_value(value: Any) -> Any:
        """A JSON column as read: SQLite hands back its text, pg8000 the decoded value."""
        return json.loads(value) if isinstance(value, (str, bytes)) else value


def like_escape(text: str) -> str:
    """`text` matched literally by `LIKE ... ESCAPE '\\'` (its `%`, `_` and `\\` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------------------- statements
def redeem_ticket(url: str, ticket: str) -> Principal:
    """A WebSocket ticket, redeemed exactly once: the conditional UPDATE lets only one of
    two concurrent redemptions change the row."""
    digest, now = hash_secret(ticket), datetime.now(timezone.utc)

    def work(db: Db) -> tuple[str, str, str] | None:
        claimed = db.execute("UPDATE ws_tickets SET used_at = ? WHERE ticket_hash = ? AND used_at IS NULL"
                             " AND expires_at > ?", now, digest, now).rowcount
        if claimed != 1:
            return None
        return db.execute("SELECT u.id, u.email, u.role FROM users u JOIN ws_tickets t ON t.user_id = u.id"
                          " WHERE t.ticket_hash = ?", digest).fetchone()

    row = run(url, work)
    if row is None:
        raise Unauthorized("The ticket is invalid, expired or already used", code="invalid_ticket")
    user_id, email, role = row
    if role not in ("admin", "user"):
        raise Unauthorized("The account cannot open a chat connection", code="invalid_ticket")
    return Principal(user_id=user_id, email=email, role=role)


def register_connection(url: str, connection_id: str, user_id: str, endpoint: str) -> None:
    run(url, lambda db: db.execute(
        "INSERT INTO connections (connection_id, user_id, endpoint, connected_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (connection_id) DO UPDATE SET user_id = excluded.user_id, endpoint = excluded.endpoint",
        connection_id, user_id, endpoint, datetime.now(timezone.utc)))


def forget_connection(url: str, connection_id: str) -> None:
    """The connection and its stream subscriptions (the answers go on, and are saved)."""
    def work(db: Db) -> None:
        db.execute("DELETE FROM stream_subscribers WHERE connection_id = ?", connection_id)
        db.execute("DELETE FROM connections WHERE connection_id = ?", connection_id)

    run(url, work)


# ---------------------------------------------------------------------------- connections
def run(url: str, work: Callable[[Db], T]) -> T:
    """`work` in one transaction, committed. A reused connection that has gone stale while
    the function was frozen (RDS Proxy closes idle clients) is replaced, once."""
    conn, reused = _checkout(url)
    try:
        result = _transaction(conn, url, work)
    except Exception as error:
        _close(conn)
        if not (reused and _is_disconnect(error)):
            raise
        conn = _connect(url)
        try:
            result = _transaction(conn, url, work)
        except BaseException:
            _close(conn)
            raise
    _checkin(url, conn)
    return result


def _transaction(conn: Any, url: str, work: Callable[[Db], T]) -> T:
    try:
        result = work(Db(conn, url.startswith("sqlite")))
        conn.commit()
        return result
    except BaseException:
        try:
            conn.rollback()
        except Exception:  # noqa: BLE001 - the connection may be the problem
            pass
        raise


def _is_disconnect(error: Exception) -> bool:
    if isinstance(error, OSError):
        return True
    try:
        from pg8000.exceptions import InterfaceError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(error, InterfaceError)


def _connect(url: str) -> Any:
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split(":///", 1)[1] if ":///" in url else ":memory:"
        conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
        for pragma in ("foreign_keys=ON", "busy_timeout=10000"):  # as engine.py sets them
            conn.execute(f"PRAGMA {pragma}")
        return conn
    import pg8000.dbapi

    from omnichat.config import get_settings

    parts = urlsplit(url)
    ssl_context = None
    if get_settings().db_tls:
        import ssl

        ssl_context = ssl.create_default_context()
    return pg8000.dbapi.connect(
        user=unquote(parts.username or ""), password=unquote(parts.password or "") or None,
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432, database=unquote(parts.path.lstrip("/")),
        ssl_context=ssl_context, timeout=10)


def _checkout(url: str) -> tuple[Any, bool]:
    with _lock:
        idle = _idle.get(url)
        if idle:
            return idle.pop(), True
    return _connect(url), False


def _checkin(url: str, conn: Any) -> None:
    with _lock:
        idle = _idle.setdefault(url, [])
        if len(idle) < 2:
            idle.append(conn)
            return
    _close(conn)


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass


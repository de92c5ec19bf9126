"""How the application talks to its database: plain SQL through the DB-API driver,
sqlite3 or pg8000 (the same URL and TLS setting as engine.py), without SQLAlchemy.

Every Lambda is a cold start away from a user, and importing SQLAlchemy and the ORM
models alone cost more than the whole cold-start budget (bench/cold_start.py), so the
handlers, the REST API and the OpenAI gateway read and write through `Db` (one
transaction, `?` placeholders on both databases) and rows as `Record` dataclasses. The
SQL is plain enough for both databases; the tables are models.py's, whose ORM models
remain the schema that Alembic's migrations are checked against, and what tests use to
set up and inspect rows (`Db.of_session` runs statements inside a test's ORM unit of
work). tests/test_lite_db.py checks the statements against the ORM on both databases.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit

from omnichat.auth import standing
from omnichat.auth.opaque import hash_secret
from omnichat.auth.principal import Principal
from omnichat.errors import Unauthorized

T = TypeVar("T")
# Every SQLite connection, here and in engine.py: wait for a writer instead of failing;
# WAL, so readers never block the writer.
SQLITE_PRAGMAS = ("busy_timeout=10000", "foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL")
_lock = threading.Lock()
_idle: dict[str, list[Any]] = {}  # url -> open connections, reused while the function is warm
# SQLite has one writer at a time. Every transaction takes the write lock when it begins
# (BEGIN IMMEDIATE: one that began by reading could not upgrade and failed "database is
# locked" under load), and the threads of one process queue for it here, in order,
# instead of polling the file lock with the busy handler's sleeps.
_sqlite_writers: dict[str, threading.RLock] = {}


class Db:
    """One transaction: `?` placeholders on both databases, datetimes stored as
    UTCDateTime stores them."""

    def __init__(self, conn: Any, sqlite: bool, begin: str | None = None) -> None:
        """`begin`, on SQLite in autocommit mode (see _connect): "immediate" when the
        caller began the transaction with the write lock (and a commit begins the next
        one so), "on_write" to take the write lock at the first statement that writes."""
        self._conn, self._cursor, self._sqlite = conn, conn.cursor(), sqlite
        self._begin = begin if sqlite else None
        self._writing = begin == "immediate"

    @property
    def sqlite(self) -> bool:
        """SQLite (else PostgreSQL): for the few statements the two write differently."""
        return self._sqlite

    def execute(self, sql: str, *params: Any) -> Any:
        if self._begin == "on_write" and not self._writing and sql.lstrip()[:6].upper() in _WRITES:
            # Reads so far ran on their own; the same cursor runs BEGIN, which ends the last
            # read's snapshot, so the write lock is taken fresh, waiting for other writers.
            self._cursor.execute("BEGIN IMMEDIATE")
            self._writing = True
        values = [self._bind(p) for p in params]
        self._cursor.execute(sql if self._sqlite else sql.replace("?", "%s"), values)
        return self._cursor

    def lock(self, *key: str) -> None:
        """Serialize the transactions that name the same `key` until this one ends (a
        PostgreSQL advisory lock; SQLite transactions are serialized already)."""
        if not self._sqlite:
            digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
            self.execute("SELECT pg_advisory_xact_lock(?)", int.from_bytes(digest, "big", signed=True))

    def commit(self) -> None:
        """Commit what is done so far (the transaction goes on): work that must stay done
        even if the rest of the request fails."""
        self._conn.commit()
        self._writing = False
        if self._begin == "immediate":
            self._cursor.execute("BEGIN IMMEDIATE")
            self._writing = True

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

    def insert(self, table: str, values: dict[str, Any], on_conflict: str = "") -> Any:
        """INSERT of one row; `on_conflict` is an optional `ON CONFLICT ...` clause."""
        return self.execute(f"{_insert_sql(table, list(values), 1)} {on_conflict}", *values.values())

    def insert_many(self, table: str, rows: list[dict[str, Any]], batch: int = 200) -> None:
        """Rows with the same keys, a few hundred per statement (one round trip each)."""
        for start in range(0, len(rows), batch):
            chunk = rows[start:start + batch]
            self.execute(_insert_sql(table, list(chunk[0]), len(chunk)),
                         *(value for row in chunk for value in row.values()))

    def insert_json_rows(self, table: str, rows: list[dict[str, Any]], batch: int = 5_000) -> None:
        """Rows with the same keys, thousands per statement, each batch sent as one JSON
        parameter the database unpacks: for bulk writes (chat import), where binding a
        million values one by one costs seconds (pg8000 binds in Python)."""
        columns = list(rows[0]) if rows else []
        names = ", ".join(columns)
        if self._sqlite:
            picks = ", ".join(f"json_extract(value, '$.{c}')" for c in columns)
            sql = f"INSERT INTO {table} ({names}) SELECT {picks} FROM json_each(?)"
        else:
            sql = f"INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{table}, ?::json)"
        stamps: dict[datetime, str] = {}  # rows written together mostly share their times

        def stamp(value: Any) -> str:  # json.dumps asks only for what JSON has no type for
            if not isinstance(value, datetime):
                raise TypeError(f"{type(value).__name__} is not a column value")
            if value not in stamps:
                stamps[value] = self._bind(value) if self._sqlite else value.astimezone(timezone.utc).isoformat()
            return stamps[value]

        for start in range(0, len(rows), batch):
            self.execute(sql, json.dumps(rows[start:start + batch], default=stamp))

    @staticmethod
    def json_value(value: Any) -> Any:
        """A JSON column as read: SQLite hands back its text, pg8000 the decoded value."""
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    @staticmethod
    def timestamp(value: Any) -> datetime | None:
        """A UTCDateTime column as read: SQLite hands back its text, pg8000 a datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


def _insert_sql(table: str, columns: list[str], rows: int) -> str:
    marks = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([marks] * rows)}"


R = TypeVar("R", bound="Record")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


class Record:
    """Base of a dataclass that is one row of `TABLE`, its fields named as the columns.
    Reads convert what the two drivers hand back differently (SQLite: JSON and datetimes
    as text, booleans as 0/1)."""

    TABLE: ClassVar[str]
    JSON: ClassVar[tuple[str, ...]] = ()
    TIMESTAMPS: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")
    FLAGS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return _field_names(cls)  # once per class: rows are read on every page of a chat

    @classmethod
    def columns(cls, alias: str | None = None) -> str:
        return ", ".join(f"{alias or cls.TABLE}.{name}" for name in cls.names())

    @classmethod
    def read(cls: type[R], row: Any) -> R:
        values = dict(zip(cls.names(), row))
        for name in cls.JSON:
            values[name] = Db.json_value(values[name])
        for name in cls.TIMESTAMPS:
            values[name] = Db.timestamp(values[name])
        for name in cls.FLAGS:
            values[name] = bool(values[name])
        return cls(**values)

    @classmethod
    def select(cls: type[R], db: Db, rest: str, *params: Any) -> list[R]:
        """`SELECT <columns> FROM <TABLE> <rest>`."""
        rows = db.execute(f"SELECT {cls.columns()} FROM {cls.TABLE} {rest}", *params).fetchall()
        return [cls.read(row) for row in rows]

    @classmethod
    def first(cls: type[R], db: Db, rest: str, *params: Any) -> R | None:
        found = cls.select(db, rest, *params)
        return found[0] if found else None

    def insert(self, db: Db, on_conflict: str = "") -> Any:
        return db.insert(self.TABLE, vars(self), on_conflict)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def like_escape(text: str) -> str:
    """`text` matched literally by `LIKE ... ESCAPE '\\'` (its `%`, `_` and `\\` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------------------- statements
def redeem_ticket(url: str, ticket: str) -> Principal:
    """A WebSocket ticket, redeemed exactly once: the conditional UPDATE lets only one of
    two concurrent redemptions change the row. The principal carries the credential that
    obtained the ticket, which must still stand (omnichat.auth.standing)."""
    digest, now = hash_secret(ticket), utcnow()

    def work(db: Db) -> Principal | None:
        claimed = db.execute("UPDATE ws_tickets SET used_at = ? WHERE ticket_hash = ? AND used_at IS NULL"
                             " AND expires_at > ?", now, digest, now).rowcount
        return standing.redeem(db, digest) if claimed == 1 else None

    principal = run(url, work)
    if principal is None:
        raise Unauthorized("The ticket is invalid, expired or already used, or its sign-in has ended",
                           code="invalid_ticket")
    return principal


# API Gateway ends every WebSocket connection after 2 hours: an older row is a connection
# whose $disconnect never arrived, and no longer counts against its user.
CONNECTION_MAX_AGE = timedelta(hours=2)


def register_connection(url: str, connection_id: str, user_id: str, endpoint: str, *,
                        session_id: str | None = None, api_key_id: str | None = None,
                        max_per_user: int | None = None) -> bool:
    """The connection and the credential it rides on; False (nothing registered) when its
    user already has `max_per_user` live connections. The user's row is locked first, so
    concurrent connects of one user are counted one at a time."""
    def work(db: Db) -> bool:
        now = utcnow()
        if max_per_user is not None:
            if db.execute("UPDATE users SET role = role WHERE id = ?", user_id).rowcount != 1:  # the lock
                raise standing.credential_gone(api_key_id is not None)  # deleted since its ticket
            db.execute("DELETE FROM connections WHERE user_id = ? AND connected_at <= ?",
                       user_id, now - CONNECTION_MAX_AGE)
            live = db.execute("SELECT count(*) FROM connections WHERE user_id = ? AND connection_id <> ?",
                              user_id, connection_id).fetchone()[0]
            if live >= max_per_user:
                return False
        db.insert("connections", {"connection_id": connection_id, "user_id": user_id, "endpoint": endpoint,
                                  "connected_at": now, "session_id": session_id, "api_key_id": api_key_id},
                  "ON CONFLICT (connection_id) DO UPDATE SET user_id = excluded.user_id, endpoint = excluded.endpoint,"
                  " session_id = excluded.session_id, api_key_id = excluded.api_key_id")
        return True

    return run(url, work)


def forget_connection(url: str, connection_id: str) -> None:
    """The connection and its stream subscriptions (the answers go on, and are saved)."""
    def work(db: Db) -> None:
        db.execute("DELETE FROM stream_subscribers WHERE connection_id = ?", connection_id)
        db.execute("DELETE FROM connections WHERE connection_id = ?", connection_id)

    run(url, work)


# ---------------------------------------------------------------------------- connections
@contextmanager
def transaction(url: str) -> Iterator[Db]:
    """One transaction around a body that cannot simply be run again (a REST request):
    a reused connection is checked first, as SQLAlchemy's pre-ping did, and replaced if it
    has gone stale while the function was frozen."""
    conn, reused = _checkout(url)
    if reused and not _alive(conn, url):
        _close(conn)
        conn = _connect(url)
    try:
        # The write lock is taken at the first write, not at the start: a request may await
        # the network (a model listing) before it, and must not hold the lock meanwhile.
        yield Db(conn, url.startswith("sqlite"), begin="on_write")
        conn.commit()
    except BaseException:
        try:
            conn.rollback()
        except Exception:  # noqa: BLE001 - the connection is the problem: not reused
            _close(conn)
            raise
        _checkin(url, conn)
        raise
    _checkin(url, conn)


def _alive(conn: Any, url: str) -> bool:
    if url.startswith("sqlite"):
        return True
    try:
        conn.cursor().execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001
        return False


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


def _writer(url: str) -> Any:
    """The process's queue for the SQLite write lock (nothing to wait for on PostgreSQL)."""
    if not url.startswith("sqlite"):
        return nullcontext()
    with _lock:
        return _sqlite_writers.setdefault(url, threading.RLock())


def _begin(conn: Any, url: str) -> None:
    if url.startswith("sqlite"):  # pg8000 begins a transaction with the first statement
        conn.execute("BEGIN IMMEDIATE")


def _transaction(conn: Any, url: str, work: Callable[[Db], T]) -> T:
    with _writer(url):
        try:
            _begin(conn, url)
            result = work(Db(conn, url.startswith("sqlite"), begin="immediate"))
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
        create_private_sqlite_file(path)
        # isolation_level=None: transactions are begun here (_begin), not implicitly.
        conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
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


def create_private_sqlite_file(path: str) -> None:
    """Creates a missing database file readable by its owner only (0600). Chats are private;
    SQLite gives its -wal and -shm files the database file's permissions."""
    if path in ("", ":memory:") or path.startswith("file:"):
        return
    import os

    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an existing file keeps the permissions its owner gave it
    except FileNotFoundError:
        pass  # no such folder: sqlite3 says so, as before


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


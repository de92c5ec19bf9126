"""How the application talks to its database: plain SQL through the DB-API driver,
sqlite3 or pg8000 (the same URL and TLS setting as engine.py), without SQLAlchemy.

Every Lambda is a cold start away from a user, and importing SQLAlchemy and the ORM
models alone cost more than the whole cold-start budget (bench/cold_start.py), so the
handlers, the REST API and the OpenAI gateway read and write through `Db` (one
transaction, `?` placeholders on both databases) and rows as `Record` dataclasses
(record.py). This module is the machinery only: the pool, transactions (`run`,
`transaction`) and `Db`; the statements live in the core's data modules (auth/,
chats/, catalog/pulls.py, ws/connections.py, ...). The tables are the migrations'
(models.py); tests/test_record_contract.py holds every Record to its table and
tests/test_lite_db.py checks the statements against the ORM on both databases.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from typing import Any, TypeVar

from omnichat.db import dbapi
from omnichat.db.dbapi import SQLITE_PRAGMAS, create_private_sqlite_file
from omnichat.db.record import Record

# Re-exported: callers take the whole plain-SQL toolkit from here.
__all__ = ["SQLITE_PRAGMAS", "Db", "Record", "create_private_sqlite_file", "like_escape", "run", "transaction",
           "utcnow"]

T = TypeVar("T")
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
        values = [dbapi.bind(p, self._sqlite) for p in params]
        self._cursor.execute(dbapi.driver_sql(sql, self._sqlite), values)
        return self._cursor

    def lock(self, *key: str) -> None:
        """Serialize the transactions that name the same `key` until this one ends (a
        PostgreSQL advisory lock; on SQLite, the write lock, taken now if the transaction
        has not written yet: its reads from here on see no other writer's changes)."""
        if self._sqlite:
            if self._begin == "on_write" and not self._writing:
                self._cursor.execute("BEGIN IMMEDIATE")
                self._writing = True
        else:
            self.execute("SELECT pg_advisory_xact_lock(?)", self.lock_id(*key))

    @staticmethod
    def lock_id(*key: str) -> int:
        """The PostgreSQL advisory lock's id for `key` (what `lock` takes): for a statement
        that takes several locks, or does more, in one round trip."""
        digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

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
                stamps[value] = dbapi.bind(value, True) if self._sqlite else value.astimezone(timezone.utc).isoformat()
            return stamps[value]

        for start in range(0, len(rows), batch):
            self.execute(sql, json.dumps(rows[start:start + batch], default=stamp))

    json_value = staticmethod(dbapi.read_json)  # a JSON column as read, on either driver
    timestamp = staticmethod(dbapi.read_datetime)  # a UTCDateTime column as read, aware UTC


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


def _insert_sql(table: str, columns: list[str], rows: int) -> str:
    marks = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([marks] * rows)}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def like_escape(text: str) -> str:
    """`text` matched literally by `LIKE ... ESCAPE '\\'` (its `%`, `_` and `\\` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
    target = dbapi.parse_url(url)
    if target.sqlite:  # autocommit mode: transactions are begun here (_begin), not implicitly
        return dbapi.connect(target, tls=False, pragmas=SQLITE_PRAGMAS)
    from omnichat.config import get_settings

    return dbapi.connect(target, tls=get_settings().db_tls)


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


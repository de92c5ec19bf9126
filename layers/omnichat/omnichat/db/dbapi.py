"""The DB-API plumbing shared by the core (omnichat.db.lite) and the pull worker in the
Ollama image (ollama_service/omnichat_pull): a database URL to a driver connection
(sqlite3 or pg8000), `?` placeholders on both drivers, and datetimes as SQLite holds them.

Standard library only, on Python 3.10 too: ollama_service/Dockerfile copies this file
(with the two `__init__.py` above it) into the image, whose Python is the base image's.
pg8000 is imported only when a PostgreSQL connection is opened."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# Every SQLite connection: wait for a writer instead of failing; WAL, so readers never
# block the writer. engine.py's SQLAlchemy connections run the same.
SQLITE_PRAGMAS = ("busy_timeout=10000", "foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL")
# How SQLAlchemy's SQLite DATETIME stores a value (naive UTC): the ORM, the runtime and the
# worker write the same text, so text comparisons in SQL order times correctly.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
_TLS_MODES = ("require", "verify-ca", "verify-full")
UTC = timezone.utc  # noqa: UP017 - datetime.UTC is Python 3.11+, the image's may be 3.10


@dataclass(frozen=True)
class Target:
    """Where a database URL points. `sqlite_path` is set for SQLite, the rest for
    PostgreSQL; `tls_requested` is the URL's own `sslmode=require…` or `ssl=true`."""

    sqlite_path: str | None = None
    user: str = ""
    password: str | None = None
    host: str = "127.0.0.1"
    port: int = 5432
    database: str = ""
    tls_requested: bool = False

    @property
    def sqlite(self) -> bool:
        return self.sqlite_path is not None


def parse_url(url: str) -> Target:
    """`sqlite:///path` (`sqlite://`: in memory) or `postgresql[+driver]://user:pass@host:port/db`."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return Target(sqlite_path=url.split(":///", 1)[1] if ":///" in url else ":memory:")
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"unsupported database URL scheme: {parts.scheme!r}")
    query = parse_qs(parts.query)
    return Target(user=unquote(parts.username or ""), password=unquote(parts.password or "") or None,
                  host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                  database=unquote(parts.path.lstrip("/")),
                  tls_requested=(query.get("sslmode", [""])[0] in _TLS_MODES
                                 or query.get("ssl", [""])[0] in ("true", "1")))


def connect(target: Target, *, tls: bool, timeout: float = 10, application_name: str | None = None,
            pragmas: tuple[str, ...] = SQLITE_PRAGMAS) -> Any:
    """A new driver connection. SQLite's is in autocommit mode (isolation_level=None): the
    caller begins its transactions. `tls` requires TLS and verifies the server against the
    system's CAs (which include the Amazon roots RDS and RDS Proxy chain to)."""
    if target.sqlite_path is not None:
        import sqlite3

        create_private_sqlite_file(target.sqlite_path)
        conn = sqlite3.connect(target.sqlite_path, timeout=timeout, check_same_thread=False, isolation_level=None)
        for pragma in pragmas:
            conn.execute(f"PRAGMA {pragma}")
        return conn
    import pg8000.dbapi

    _remember_placeholders(pg8000.dbapi)

    def open_with(ssl_context: Any) -> Any:
        return pg8000.dbapi.connect(user=target.user, password=target.password, host=target.host,
                                    port=target.port, database=target.database, ssl_context=ssl_context,
                                    timeout=timeout, application_name=application_name)

    if tls:
        return open_with(_tls_context(verify=True))
    # Without `tls`, TLS is used when the server offers it, unverified (pg8000's and libpq's
    # "prefer"). A server that declined once is asked no more in this process.
    server = (target.host, target.port)
    if server in _CLEAR_TEXT_SERVERS:
        return open_with(False)
    try:
        return open_with(_tls_context(verify=False))
    except pg8000.dbapi.InterfaceError as exc:
        if "refuses SSL" not in str(exc):
            raise
    _CLEAR_TEXT_SERVERS.add(server)
    return open_with(False)


# Servers that declined TLS to a connection that only preferred it.
_CLEAR_TEXT_SERVERS: set[tuple[str, int]] = set()


@functools.cache
def _tls_context(verify: bool) -> Any:
    """One TLS context per process and kind: making one loads the system's CA certificates,
    20 ms of CPU, which pg8000 would spend on every connection. Contexts are safe to share
    between threads."""
    import ssl

    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


_PLACEHOLDERS_KEPT = 1_000  # statement texts: the application has a few hundred


def _remember_placeholders(module: Any) -> None:
    """pg8000 rewrites each statement's `%s` to `$1, $2, ...` anew, scanning it character by
    character in Python: 1 ms and more for a long statement (the budget check's usage one),
    on every call. The rewrite depends on the text alone (the positional styles pass the
    values through as they are), so it is done once per statement text here."""
    original = module.convert_paramstyle
    if getattr(original, "omnichat_remembers", False):
        return
    rewritten: dict[tuple[str, str], str] = {}

    def convert(style: str, query: str, args: Any) -> tuple[str, Any]:
        if style not in ("format", "qmark", "numeric") or isinstance(args, dict):
            return original(style, query, args)  # type: ignore[no-any-return]
        found = rewritten.get((style, query))
        if found is not None:
            return found, args
        found, values = original(style, query, args)
        if len(rewritten) < _PLACEHOLDERS_KEPT:
            rewritten[(style, query)] = found
        return found, values

    convert.omnichat_remembers = True  # type: ignore[attr-defined]
    module.convert_paramstyle = convert


def create_private_sqlite_file(path: str) -> None:
    """Creates a missing database file readable by its owner only (0600). Chats are private;
    SQLite gives its -wal and -shm files the database file's permissions."""
    if path in ("", ":memory:") or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an existing file keeps the permissions its owner gave it
    except FileNotFoundError:
        pass  # no such folder: sqlite3 says so


def driver_sql(sql: str, sqlite: bool) -> str:
    """`?` placeholders as the driver takes them (pg8000: `%s`)."""
    return sql if sqlite else sql.replace("?", "%s")


def bind(value: Any, sqlite: bool) -> Any:
    """A parameter as the column stores it: datetimes as SQLAlchemy's UTCDateTime does on
    SQLite (pg8000 sends them as they are), dicts as the JSON type's text."""
    if isinstance(value, datetime) and sqlite:
        return value.astimezone(UTC).strftime(SQLITE_DATETIME)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def read_datetime(value: Any) -> datetime | None:
    """A datetime column as read, aware UTC: SQLite hands back its text, pg8000 a datetime."""
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_json(value: Any) -> Any:
    """A JSON column as read: SQLite hands back its text, pg8000 the decoded value."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value

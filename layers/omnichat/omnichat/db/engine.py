"""SQLAlchemy engine and sessions, for Alembic's migrations and for the tests (the
application itself uses omnichat.db.lite). One engine per process and URL; a small pool
with pre-ping so a connection the server dropped is replaced."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from omnichat.db.dbapi import SQLITE_PRAGMAS, create_private_sqlite_file

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def build_engine(url: str, tls: bool | None = None) -> Engine:
    """`tls` (default: the `db_tls` setting) verifies the server's certificate against the
    system's CAs, which include the Amazon roots RDS and RDS Proxy certificates chain to."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            create_private_sqlite_file(parsed.database)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if tls is None:
        from omnichat.config import get_settings

        tls = get_settings().db_tls
    connect_args = {"ssl_context": ssl.create_default_context()} if tls else {}
    return create_engine(
        url,
        connect_args=connect_args,
        pool_size=2,
        max_overflow=3,
        pool_pre_ping=True,
        pool_recycle=300,
        pool_timeout=10,
    )


def get_engine(url: str) -> Engine:
    engine = _engines.get(url)
    if engine is None:
        with _lock:
            engine = _engines.get(url)
            if engine is None:
                engine = _engines[url] = build_engine(url)
    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    """Sessions on the URL's engine. The ORM is imported here, not with the engine: the
    migrations need only the engine."""
    factory = _factories.get(url)
    if factory is None:
        from sqlalchemy.orm import sessionmaker

        engine = get_engine(url)
        with _lock:
            factory = _factories.setdefault(url, sessionmaker(engine, expire_on_commit=False))
    return factory


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()

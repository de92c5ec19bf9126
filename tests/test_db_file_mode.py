"""The local SQLite database holds every chat: it and its -wal and -shm files are created
readable by their owner only (0600), as the JWT secret is, whichever way it is first opened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from omnichat.config import Settings
from omnichat.db import engine, lite, migrate


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default, under which files came out 0644
    yield
    os.umask(previous)


def modes(home: Path) -> dict[str, str]:
    return {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in sorted(home.glob("omnichat.db*"))}


def test_the_default_database_and_its_wal_files_are_private(tmp_path):
    url = Settings(home=tmp_path).resolved_database_url
    migrate.upgrade(url)  # the first thing `make local` does with it
    lite.run(url, lambda db: db.execute("INSERT INTO signin_failures (id, scope, created_at) VALUES (?, ?, ?)",
                                        "x", "ip:test", lite.utcnow()))
    found = modes(tmp_path)
    assert set(found) >= {"omnichat.db", "omnichat.db-wal", "omnichat.db-shm"}, found
    assert set(found.values()) == {"0o600"}, found


def test_a_database_first_opened_through_sqlalchemy_is_private(tmp_path):
    url = f"sqlite:///{tmp_path / 'omnichat.db'}"
    built = engine.build_engine(url)
    try:
        with built.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        found = modes(tmp_path)
    finally:
        built.dispose()
    assert "omnichat.db-wal" in found and set(found.values()) == {"0o600"}, found


def test_an_existing_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "omnichat.db"
    path.touch(mode=0o640)
    lite.run(f"sqlite:///{path}", lambda db: db.execute("SELECT 1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

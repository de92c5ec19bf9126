"""SQLite under concurrent writers (issue: 200 concurrent chats on the default database
failed with "database is locked"). SQLite has one writer at a time; a writer that waits
for the lock longer than the busy timeout fails, and the busy handler's sleeps are no
queue: under load some writers starved past it. Writers of one process now queue for the
lock in order (omnichat.db.lite) and take it when their transaction begins to write."""

from __future__ import annotations

import threading
from pathlib import Path

from omnichat.db import lite, migrate
from omnichat.db.lite import Db, utcnow
from omnichat.ids import new_id


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'omnichat.db'}"
    migrate.upgrade(url)
    return url


def _add_setting(db: Db, key: str) -> None:
    db.insert("settings", {"key": key, "value": {"n": 1}, "updated_at": utcnow()})


def test_a_writer_waits_for_another_longer_than_the_busy_timeout(tmp_path, monkeypatch):
    """The lock is held three times the busy timeout: the waiting writer still writes."""
    monkeypatch.setattr(lite, "SQLITE_PRAGMAS", ("busy_timeout=100", *lite.SQLITE_PRAGMAS[1:]))
    url = _db(tmp_path)
    holding, errors = threading.Event(), []

    def long_writer(db: Db) -> None:
        _add_setting(db, "long")
        holding.set()
        threading.Event().wait(0.3)  # the other writer is waiting meanwhile

    def other() -> None:
        holding.wait(10)
        try:
            lite.run(url, lambda db: _add_setting(db, "waited"))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    lite.run(url, long_writer)
    thread.join(10)
    assert errors == []
    assert lite.run(url, lambda db: db.execute("SELECT count(*) FROM settings").fetchone()[0]) == 2


def test_a_request_that_read_before_another_writer_committed_still_writes(tmp_path):
    """The REST API's unit of work reads without the lock and takes it at its first write
    (a read snapshot older than another writer's commit cannot be upgraded)."""
    url = _db(tmp_path)
    lite.run(url, lambda db: _add_setting(db, "seed"))
    read_done, other_committed = threading.Event(), threading.Event()

    def other_writer() -> None:
        read_done.wait(10)
        lite.run(url, lambda db: _add_setting(db, "other"))
        other_committed.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    with lite.transaction(url) as db:  # the REST API's unit of work
        assert db.execute("SELECT count(*) FROM settings").fetchone()[0] == 1
        read_done.set()
        assert other_committed.wait(10)
        _add_setting(db, "mine")
    thread.join(10)
    keys = lite.run(url, lambda db: sorted(r[0] for r in db.execute("SELECT key FROM settings").fetchall()))
    assert keys == ["mine", "other", "seed"]


def test_many_threads_reading_then_writing_all_succeed(tmp_path):
    url = _db(tmp_path)
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def worker(n: int) -> None:
        start.wait()
        for i in range(15):
            def work(db: Db) -> None:
                db.execute("SELECT count(*) FROM settings").fetchone()
                _add_setting(db, f"w{n}-{i}-{new_id()}")  # noqa: B023 - run within this iteration
            try:
                if i % 2:
                    lite.run(url, work)
                else:
                    with lite.transaction(url) as db:
                        work(db)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert lite.run(url, lambda db: db.execute("SELECT count(*) FROM settings").fetchone()[0]) == 16 * 15


def test_a_rolled_back_request_keeps_nothing(tmp_path):
    url = _db(tmp_path)
    try:
        with lite.transaction(url) as db:
            _add_setting(db, "undone")
            raise RuntimeError("the request failed")
    except RuntimeError:
        pass
    assert lite.run(url, lambda db: db.execute("SELECT count(*) FROM settings").fetchone()[0]) == 0

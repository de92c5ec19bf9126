"""The migrate custom resource during a rollback (issue 14, major 7): CloudFormation rolls a
failed update back to the older code, which is sent an Update while the database is already
at a newer revision it does not know. It must answer SUCCESS and change nothing: a FAILED
answer leaves the stack in UPDATE_ROLLBACK_FAILED. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import inspect, text

from omnichat.config import get_settings
from omnichat.db import migrate
from omnichat.db.engine import get_engine
from tests.helpers import load_function

from .conftest import ROOT

FUTURE = "9999"  # a revision some newer release added
CONTEXT = SimpleNamespace(log_stream_name="stream", aws_request_id="req-1")


def set_revision(url: str, revision: str) -> None:
    with get_engine(url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


@pytest.fixture
def newer_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The suite's migrated database, as a newer release would have left it."""
    before = migrate.current(db_url)
    assert before is not None
    set_revision(db_url, FUTURE)
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        yield db_url
    finally:
        set_revision(db_url, before)
        get_settings.cache_clear()


def update_event(url: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "cfn-migrate-create.json").read_text())
    return {**event, "RequestType": "Update", "ResponseURL": url, "PhysicalResourceId": "omnichat-db-migrations",
            "OldResourceProperties": event["ResourceProperties"]}


def test_a_rollback_onto_a_newer_database_succeeds_and_changes_nothing(newer_database: str,
                                                                       cfn_responses: Any) -> None:
    url, received = cfn_responses
    tables = sorted(inspect(get_engine(newer_database)).get_table_names())
    load_function("migrate").handler(update_event(url), CONTEXT)
    (answer,) = received
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["Data"] == {"Revision": FUTURE}
    assert "newer" in answer["Reason"] and "left unchanged" in answer["Reason"]
    assert migrate.current(newer_database) == FUTURE
    assert sorted(inspect(get_engine(newer_database)).get_table_names()) == tables


def test_invoked_directly_it_says_the_database_is_ahead(newer_database: str) -> None:
    assert load_function("migrate").handler({}, CONTEXT) == {"revision": FUTURE, "unchanged_newer": True}


def test_every_revision_the_code_ships_is_known_and_others_are_not() -> None:
    versions = Path(migrate.MIGRATIONS, "versions")
    shipped = {p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py")}
    assert migrate.HEAD in shipped and all(migrate.knows(r) for r in shipped)
    assert not migrate.knows(FUTURE)


def test_a_database_behind_the_code_is_still_migrated(cfn_responses: Any, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """The fix must not skip real work: a fresh database is migrated to HEAD."""
    url, received = cfn_responses
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", fresh)
    get_settings.cache_clear()
    try:
        load_function("migrate").handler(update_event(url), CONTEXT)
    finally:
        get_settings.cache_clear()
    assert received[0]["Status"] == "SUCCESS" and received[0]["Data"] == {"Revision": migrate.HEAD}

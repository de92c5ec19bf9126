"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from omnichat.db import migrate
from omnichat.db.engine import get_engine
from omnichat.db.models import Base

ROOT = Path(__file__).resolve().parents[1]


def test_migrated_schema_matches_the_models(db_url):
    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_every_table_exists_after_upgrade(db_url):
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert {"users", "api_keys", "ws_tickets", "connections", "chats", "messages", "usage", "settings",
            "sessions", "signin_failures"} <= tables


def test_downgrade_to_base_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    head = migrate.current(url)
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None
    assert "chats" not in inspect(get_engine(url)).get_table_names()
    migrate.upgrade(url)
    assert migrate.current(url) == head


def test_cli_upgrade(tmp_path, capsys):
    from omnichat.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert "database at revision" in capsys.readouterr().out


def test_head_is_the_newest_script():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head() == migrate.HEAD


def test_a_database_at_head_is_left_alone_without_loading_alembic(db_url):
    """What most deploys run (the `migrate` custom resource): one query, no Alembic."""
    code = ("import sys\nfrom omnichat.db import migrate\n"
            f"migrate.upgrade({db_url!r})\n"
            "loaded = {m.split('.')[0] for m in sys.modules} & {'alembic', 'sqlalchemy'}\n"
            f"print(migrate.current({db_url!r}), sorted(loaded))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "layers/omnichat")})
    assert out.stdout.split() == [migrate.HEAD, "[]"]

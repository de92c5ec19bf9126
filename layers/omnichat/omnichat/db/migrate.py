"""Alembic, configured in code so that the migrations ship inside the package (the Lambda
layer) and run from `omnichat db upgrade` or the `migrate` function alike.

Most deploys change no schema: the database is then already at `HEAD`, which one query
tells without loading Alembic, SQLAlchemy or the migration scripts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omnichat.db import lite

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0014"  # the newest revision in migrations/versions (tests/test_migrations.py keeps this true)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # '%' must be escaped for ConfigParser interpolation (passwords may contain it).
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    if revision == "head" and current(url) == HEAD:
        return
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def knows(revision: str) -> bool:
    """Whether this code's migrations define `revision`. A database at a revision they do
    not is ahead of the code: a newer release migrated it (e.g. before a rollback)."""
    if revision == HEAD:
        return True
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return revision in {script.revision for script in scripts.walk_revisions()}


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The database's revision, as Alembic records it (None: never migrated)."""
    def work(db: lite.Db) -> str | None:
        if not db.has_table("alembic_version"):
            return None
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else row[0]

    return lite.run(url, work)

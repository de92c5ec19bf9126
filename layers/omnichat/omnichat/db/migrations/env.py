"""Alembic environment: uses the engine OmniChat already built for the URL.

Running migrations needs neither the ORM nor the models (the migrate function's cold start
would pay for both). Autogenerating a revision does: put the models' metadata in
`cfg.attributes["target_metadata"]` (`omnichat.db.models.Base.metadata`) first."""

from __future__ import annotations

from alembic import context

from omnichat.db.engine import get_engine

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database: pass database_url (omnichat.db.migrate) or set sqlalchemy.url")

with get_engine(url).connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations rebuild a table (copy, DROP, rename). With foreign keys on, the
        # DROP of a parent table (users, chats) would cascade to every child row. Set
        # before the first statement: SQLite ignores the pragma inside a transaction.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=config.attributes.get("target_metadata"),
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                raise RuntimeError("a migration left rows whose parent is missing; nothing was changed")
        connection.commit()
    finally:
        if sqlite:  # the engine's pooled connection goes on serving with foreign keys on
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()

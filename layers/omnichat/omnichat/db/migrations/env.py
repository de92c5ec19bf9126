"""Alembic environment: uses the engine OmniChat already built for the URL.

Running migrations needs neither the ORM nor the models (the migrate function's cold start
would pay for both). Autogenerating a revision does: put the models' metadata in
`cfg.attributes["target_metadata"]` (`omnichat.db.models.Base.metadata`) first."""

from __future__ import annotations

from alembic import context

from omnichat.db.engine import get_engine

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")

with get_engine(url).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

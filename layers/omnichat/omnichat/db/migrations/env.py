"""Alembic environment: uses the engine OmniChat already built for the URL."""

from __future__ import annotations

from alembic import context

from omnichat.db.engine import get_engine
from omnichat.db.models import Base

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")

with get_engine(url).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

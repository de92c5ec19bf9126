"""Column defaults that migrations write the same way on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite keeps SQLAlchemy's DATETIME text, 'YYYY-MM-DD HH:MM:SS.ffffff' (millisecond precision).
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"


def now() -> sa.TextClause:
    """The current time as a column's server default, as migration 0006 first wrote it."""
    return sa.text(SQLITE_NOW if op.get_bind().dialect.name == 'sqlite' else 'CURRENT_TIMESTAMP')

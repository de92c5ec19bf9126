"""server defaults: every column with a default has it in the database, so a plain INSERT
(the runtime's, the pull worker's, an operator's) may leave it out. Frozen history: the
values are written here as they were; models.py names them once for the code, and
tests/test_record_contract.py checks the two agree on SQLite and PostgreSQL.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'

NOW = 'now'  # a timestamp column: the current UTC time, in the column's own format
DEFAULTS: dict[str, dict[str, str | bool]] = {
    'users': {'name': "''", 'created_at': NOW, 'updated_at': NOW},
    'sessions': {'created_at': NOW},
    'api_keys': {'created_at': NOW},
    'ws_tickets': {'created_at': NOW},
    'connections': {'endpoint': "''", 'connected_at': NOW},
    'signin_failures': {'created_at': NOW},
    'chats': {'title': "'New chat'", 'pinned': False, 'archived': False, 'params': "'{}'", 'message_count': '0',
              'created_at': NOW, 'updated_at': NOW},
    'messages': {'depth': '0', 'content': "''", 'status': "'complete'", 'created_at': NOW, 'updated_at': NOW},
    'sends': {'created_at': NOW},
    'usage': {'source': "'chat'", 'input_tokens': '0', 'output_tokens': '0', 'cache_read_tokens': '0',
              'cache_write_tokens': '0', 'duration_ms': '0', 'created_at': NOW},
    'settings': {'updated_at': NOW},
    'streams': {'stop_requested': False, 'started_at': NOW, 'heartbeat_at': NOW},
    'stream_subscribers': {'created_at': NOW},
    'upload_parts': {'created_at': NOW},
    'model_pulls': {'status': "'queued'", 'status_text': "''", 'completed': '0', 'total': '0',
                    'created_at': NOW, 'updated_at': NOW},
}


def _clause(value: str | bool, sqlite: bool) -> Any:
    if value is NOW:  # SQLite: SQLAlchemy's DATETIME text, 'YYYY-MM-DD HH:MM:SS.ffffff' (ms precision)
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f000', 'now'))" if sqlite else 'CURRENT_TIMESTAMP')
    if isinstance(value, bool):
        return sa.true() if value else sa.false()
    return sa.text(value)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, columns in DEFAULTS.items():
        # SQLite rebuilds the table (batch mode; env.py turns foreign keys off meanwhile).
        with op.batch_alter_table(table) as batch:
            for column, value in columns.items():
                batch.alter_column(column, server_default=_clause(value, sqlite))


def downgrade() -> None:
    for table, columns in DEFAULTS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, server_default=None)

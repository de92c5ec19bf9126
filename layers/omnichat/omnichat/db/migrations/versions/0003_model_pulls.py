"""model pulls"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, pk, string, timestamp, timestamps

revision = '0003'
down_revision = '0002'

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table('model_pulls',
    id_column(),
    string('model', 300),
    string('status', 16),
    string('status_text', 300),
    string('digest', 100, nullable=True),
    sa.Column('completed', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    id_column('requested_by', nullable=True),
    string('worker', 200, nullable=True),
    *timestamps(default=False),
    timestamp('started_at', nullable=True),
    timestamp('finished_at', nullable=True),
    fk('model_pulls', 'requested_by', 'users', ondelete='SET NULL'),
    pk('model_pulls')
    )
    index('model_pulls', 'status', 'created_at')
    # One active pull per model: a second request attaches to the first.
    index('model_pulls', 'model', name='uq_model_pulls_active_model', unique=True,
          sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade() -> None:
    drop('model_pulls', 'uq_model_pulls_active_model', 'ix_model_pulls_status_created_at')

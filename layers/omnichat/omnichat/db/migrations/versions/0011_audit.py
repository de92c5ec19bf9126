"""audit log: sign-ins, admin changes, key creation and revocation

One row per recorded action (omnichat/audit.py): when, who (the actor's user id, kept
without a foreign key so an entry outlives the account, and a label: the email at the
time), what (`action`, the target, and `details`: the non-secret fields before and after),
and from where (the client address and user agent). Newest first by (`at`, `id`).
"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, id_column, index, pk, string, timestamps

revision = '0011'
down_revision = '0010'


def upgrade() -> None:
    op.create_table('audit',
    id_column(),
    *timestamps('at'),
    id_column('actor_id', nullable=True),
    string('actor_label', 320, server_default=sa.text("''")),
    string('action', 64),
    string('target_type', 32, nullable=True),
    string('target_id', 320, nullable=True),
    sa.Column('details', sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    string('ip', 64, nullable=True),
    string('user_agent', 300, nullable=True),
    pk('audit')
    )
    index('audit', 'at', 'id')
    index('audit', 'actor_id', 'at')


def downgrade() -> None:
    drop('audit', 'ix_audit_actor_id_at', 'ix_audit_at_id')

"""connection credentials: the session or API key that obtained a WebSocket ticket,
kept with the ticket and with the connection it opened, so every frame (and every
stream delivering to the connection) checks that the credential still stands
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'

TABLES = ('ws_tickets', 'connections')


def upgrade() -> None:
    # No foreign keys: a credential that is deleted (sign-out) or revoked must leave the
    # rows in place, so that the standing check finds them refused (omnichat.auth.standing).
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('session_id', sa.String(length=36), nullable=True))
            batch.add_column(sa.Column('api_key_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('api_key_id')
            batch.drop_column('session_id')

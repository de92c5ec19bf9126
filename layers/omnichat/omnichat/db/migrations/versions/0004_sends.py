"""sends: one row per (user, client_message_id), the idempotency key of chat.send and
chat.edit across chats; upload_parts keep the fields of the part that carries them
"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, pk, string, timestamp

revision = '0004'
down_revision = '0003'


def upgrade() -> None:
    op.create_table('sends',
    id_column('user_id'),
    string('client_message_id', 100),
    id_column('chat_id'),
    id_column('message_id'),
    timestamp('created_at'),
    fk('sends', 'user_id', 'users'),
    fk('sends', 'chat_id', 'chats'),
    pk('sends', 'user_id', 'client_message_id')
    )
    index('sends', 'chat_id')
    with op.batch_alter_table('upload_parts') as batch:
        batch.add_column(sa.Column('fields', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('upload_parts') as batch:
        batch.drop_column('fields')
    drop('sends', 'ix_sends_chat_id')

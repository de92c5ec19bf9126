"""streams and upload parts"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, pk, string, timestamp

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    op.create_table('stream_subscribers',
    id_column('message_id'),
    string('connection_id', 128),
    timestamp('created_at'),
    pk('stream_subscribers', 'message_id', 'connection_id')
    )
    op.create_table('upload_parts',
    id_column('user_id'),
    string('client_message_id', 100),
    sa.Column('part_index', sa.Integer(), nullable=False),
    sa.Column('part_count', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    timestamp('created_at'),
    fk('upload_parts', 'user_id', 'users'),
    pk('upload_parts', 'user_id', 'client_message_id', 'part_index')
    )
    op.create_table('streams',
    id_column('message_id'),
    id_column('chat_id'),
    id_column('user_id'),
    sa.Column('stop_requested', sa.Boolean(), nullable=False),
    timestamp('started_at'),
    timestamp('heartbeat_at'),
    fk('streams', 'chat_id', 'chats'),
    pk('streams', 'message_id')
    )
    index('streams', 'chat_id')


def downgrade() -> None:
    drop('streams', 'ix_streams_chat_id')
    drop('upload_parts')
    drop('stream_subscribers')

"""initial schema"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, pk, string, timestamp, timestamps, unique

revision = '0001'
down_revision = None

# No server defaults yet: migration 0006 adds them.


def upgrade() -> None:
    op.create_table('settings',
    string('key', 200),
    sa.Column('value', sa.JSON(), nullable=False),
    timestamp('updated_at'),
    pk('settings', 'key')
    )
    op.create_table('signin_failures',
    id_column(),
    string('scope', 400),
    timestamp('created_at'),
    pk('signin_failures')
    )
    index('signin_failures', 'scope', 'created_at')

    op.create_table('users',
    id_column(),
    string('email', 320),
    string('name', 200),
    string('password_hash', 255),
    string('role', 16),
    *timestamps(default=False),
    pk('users'),
    unique('users', 'email')
    )
    op.create_table('api_keys',
    id_column(),
    id_column('user_id'),
    string('name', 100),
    string('prefix', 16),
    string('key_hash', 64),
    timestamp('created_at'),
    timestamp('last_used_at', nullable=True),
    timestamp('revoked_at', nullable=True),
    fk('api_keys', 'user_id', 'users'),
    pk('api_keys'),
    unique('api_keys', 'key_hash')
    )
    index('api_keys', 'user_id')

    op.create_table('chats',
    id_column(),
    id_column('user_id'),
    string('title', 300),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    string('model', 300, nullable=True),
    sa.Column('system_prompt', sa.Text(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    id_column('current_leaf_id', nullable=True),
    sa.Column('message_count', sa.Integer(), nullable=False),
    *timestamps(default=False),
    fk('chats', 'user_id', 'users'),
    pk('chats')
    )
    index('chats', 'user_id', 'archived', 'pinned', 'updated_at', 'id', name='ix_chats_user_id_listing')

    op.create_table('connections',
    string('connection_id', 128),
    id_column('user_id'),
    string('endpoint', 512),
    timestamp('connected_at'),
    fk('connections', 'user_id', 'users'),
    pk('connections', 'connection_id')
    )
    index('connections', 'user_id')

    op.create_table('sessions',
    id_column(),
    id_column('user_id'),
    *timestamps('created_at', 'expires_at', default=False),
    fk('sessions', 'user_id', 'users'),
    pk('sessions')
    )
    index('sessions', 'user_id')

    op.create_table('usage',
    id_column(),
    id_column('user_id', nullable=True),
    id_column('api_key_id', nullable=True),
    id_column('chat_id', nullable=True),
    id_column('message_id', nullable=True),
    string('source', 16),
    string('model', 300),
    string('provider', 16),
    *(sa.Column(name, sa.Integer(), nullable=False)
      for name in ('input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens')),
    sa.Column('ttft_ms', sa.Integer(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    string('outcome', 16),
    string('error_code', 64, nullable=True),
    timestamp('created_at'),
    fk('usage', 'user_id', 'users', ondelete='SET NULL'),
    pk('usage')
    )
    index('usage', 'created_at')
    index('usage', 'user_id')

    op.create_table('ws_tickets',
    id_column(),
    id_column('user_id'),
    string('ticket_hash', 64),
    *timestamps('created_at', 'expires_at', default=False),
    timestamp('used_at', nullable=True),
    fk('ws_tickets', 'user_id', 'users'),
    pk('ws_tickets'),
    unique('ws_tickets', 'ticket_hash')
    )
    index('ws_tickets', 'user_id')

    op.create_table('messages',
    id_column(),
    id_column('chat_id'),
    id_column('parent_id', nullable=True),
    sa.Column('depth', sa.Integer(), nullable=False),
    string('role', 16),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('reasoning', sa.Text(), nullable=True),
    string('model', 300, nullable=True),
    string('status', 16),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('usage', sa.JSON(), nullable=True),
    string('client_message_id', 100, nullable=True),
    *timestamps(default=False),
    fk('messages', 'chat_id', 'chats'),
    pk('messages'),
    unique('messages', 'chat_id', 'client_message_id')
    )
    index('messages', 'chat_id', 'parent_id')
    index('messages', 'parent_id')


def downgrade() -> None:
    drop('messages', 'ix_messages_parent_id', 'ix_messages_chat_id_parent_id')
    drop('ws_tickets', 'ix_ws_tickets_user_id')
    drop('usage', 'ix_usage_user_id', 'ix_usage_created_at')
    drop('sessions', 'ix_sessions_user_id')
    drop('connections', 'ix_connections_user_id')
    drop('chats', 'ix_chats_user_id_listing')
    drop('api_keys', 'ix_api_keys_user_id')
    drop('users')
    drop('signin_failures', 'ix_signin_failures_scope_created_at')
    drop('settings')

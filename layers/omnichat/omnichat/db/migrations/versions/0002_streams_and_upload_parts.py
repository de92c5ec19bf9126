"""streams and upload parts

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stream_subscribers',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('connection_id', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id', 'connection_id', name=op.f('pk_stream_subscribers'))
    )
    op.create_table('upload_parts',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('client_message_id', sa.String(length=100), nullable=False),
    sa.Column('part_index', sa.Integer(), nullable=False),
    sa.Column('part_count', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_upload_parts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'client_message_id', 'part_index', name=op.f('pk_upload_parts'))
    )
    op.create_table('streams',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('chat_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('stop_requested', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['chat_id'], ['chats.id'], name=op.f('fk_streams_chat_id_chats'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_streams'))
    )
    op.create_index(op.f('ix_streams_chat_id'), 'streams', ['chat_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_streams_chat_id'), table_name='streams')

    op.drop_table('streams')
    op.drop_table('upload_parts')
    op.drop_table('stream_subscribers')

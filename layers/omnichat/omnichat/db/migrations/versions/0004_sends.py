"""sends: one row per (user, client_message_id), the idempotency key of chat.send and
chat.edit across chats; upload_parts keep the fields of the part that carries them

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sends',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('client_message_id', sa.String(length=100), nullable=False),
    sa.Column('chat_id', sa.String(length=36), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sends_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['chat_id'], ['chats.id'], name=op.f('fk_sends_chat_id_chats'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'client_message_id', name=op.f('pk_sends'))
    )
    op.create_index(op.f('ix_sends_chat_id'), 'sends', ['chat_id'], unique=False)
    with op.batch_alter_table('upload_parts') as batch:
        batch.add_column(sa.Column('fields', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('upload_parts') as batch:
        batch.drop_column('fields')
    op.drop_index(op.f('ix_sends_chat_id'), table_name='sends')
    op.drop_table('sends')

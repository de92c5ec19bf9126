"""model pulls

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table('model_pulls',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('model', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_text', sa.String(length=300), nullable=False),
    sa.Column('digest', sa.String(length=100), nullable=True),
    sa.Column('completed', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.String(length=36), nullable=True),
    sa.Column('worker', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_model_pulls_requested_by_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_pulls'))
    )
    op.create_index('ix_model_pulls_status_created_at', 'model_pulls', ['status', 'created_at'], unique=False)
    # One active pull per model: a second request attaches to the first.
    op.create_index('uq_model_pulls_active_model', 'model_pulls', ['model'], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade() -> None:
    op.drop_index('uq_model_pulls_active_model', table_name='model_pulls')
    op.drop_index('ix_model_pulls_status_created_at', table_name='model_pulls')
    op.drop_table('model_pulls')

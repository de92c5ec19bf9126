"""presets: custom models defined by admins (for everyone) and users (for themselves)

A preset with no owner is global (an admin's); its slug is unique among global presets
(a partial unique index). A user's own presets are unique per owner. `preset_users`
names the users a global preset with visibility 'users' is shown to.
"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, link_table, pk, string, timestamps, unique

revision = '0007'
down_revision = '0006'

GLOBAL = sa.text("owner_id IS NULL")


def upgrade() -> None:
    op.create_table('presets',
    id_column(),
    id_column('owner_id', nullable=True),
    string('slug', 64),
    string('name', 200),
    sa.Column('description', sa.Text(), server_default=sa.text("''"), nullable=False),
    string('base_model', 300),
    sa.Column('system_prompt', sa.Text(), nullable=True),
    sa.Column('params', sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('fallbacks', sa.Text(), server_default=sa.text("''"), nullable=False),
    string('visibility', 16),
    *timestamps(),
    fk('presets', 'owner_id', 'users'),
    pk('presets'),
    unique('presets', 'owner_id', 'slug')
    )
    index('presets', 'slug', name='uq_presets_global_slug', unique=True,
          sqlite_where=GLOBAL, postgresql_where=GLOBAL)
    link_table('preset_users', ('preset_id', 'presets'), ('user_id', 'users'))


def downgrade() -> None:
    drop('preset_users', 'ix_preset_users_user_id')
    drop('presets', 'uq_presets_global_slug')

"""groups and their members (admin-managed and synced from the identity provider)

A group is `local` (an admin names its members) or `idp` (its members are set from the
identity provider's group claim at each single sign-on; `external_id` is the claim's
value). Global presets may be shared with groups (`preset_groups`).
"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, id_column, link_table, pk, string, timestamps, unique

revision = '0009'
down_revision = '0008'


def upgrade() -> None:
    op.create_table('groups',
    id_column(),
    string('name', 100),
    string('source', 16, server_default=sa.text("'local'")),
    string('external_id', 300, nullable=True),
    *timestamps(),
    pk('groups'),
    unique('groups', 'name'),
    unique('groups', 'external_id')
    )
    link_table('group_members', ('group_id', 'groups'), ('user_id', 'users'), *timestamps('created_at'))
    link_table('preset_groups', ('preset_id', 'presets'), ('group_id', 'groups'))


def downgrade() -> None:
    drop('preset_groups', 'ix_preset_groups_group_id')
    drop('group_members', 'ix_group_members_user_id')
    drop('groups')

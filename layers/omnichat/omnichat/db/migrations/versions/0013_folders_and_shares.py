"""chat folders and tags, and read-only share links of chats

`folders`: a user's chat folders (names unique per user). `chat_folders`: the folder a
chat is in (at most one; deleting the folder puts its chats back in no folder).
`chat_tags`: a chat's tags (lower-case, unique per chat).

`chat_shares`: a user's read-only links to one of their chats. Each holds a snapshot of
the chat's current branch at share time (title and messages, no ids, no owner), found by
the SHA-256 of its token (the token itself is never stored). Deleting the chat or the
user deletes its links, and its folders and tags.
"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, pk, string, timestamps, unique

revision = '0013'
down_revision = '0012'


def upgrade() -> None:
    op.create_table('folders',
    id_column(),
    id_column('user_id'),
    string('name', 100),
    *timestamps('created_at'),
    fk('folders', 'user_id', 'users'),
    pk('folders'),
    unique('folders', 'user_id', 'name')
    )
    op.create_table('chat_folders',
    id_column('chat_id'),
    id_column('folder_id'),
    fk('chat_folders', 'chat_id', 'chats'),
    fk('chat_folders', 'folder_id', 'folders'),
    pk('chat_folders', 'chat_id')
    )
    index('chat_folders', 'folder_id')
    op.create_table('chat_tags',
    id_column('chat_id'),
    string('tag', 50),
    fk('chat_tags', 'chat_id', 'chats'),
    pk('chat_tags', 'chat_id', 'tag')
    )
    index('chat_tags', 'tag')
    op.create_table('chat_shares',
    id_column(),
    id_column('chat_id'),
    id_column('user_id'),
    string('token_hash', 64),
    string('prefix', 16),
    string('title', 300),
    sa.Column('message_count', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    *timestamps('created_at'),
    fk('chat_shares', 'chat_id', 'chats'),
    fk('chat_shares', 'user_id', 'users'),
    pk('chat_shares'),
    unique('chat_shares', 'token_hash')
    )
    index('chat_shares', 'chat_id')
    index('chat_shares', 'user_id')


def downgrade() -> None:
    drop('chat_shares', 'ix_chat_shares_user_id', 'ix_chat_shares_chat_id')
    drop('chat_tags', 'ix_chat_tags_tag')
    drop('chat_folders', 'ix_chat_folders_folder_id')
    drop('folders')

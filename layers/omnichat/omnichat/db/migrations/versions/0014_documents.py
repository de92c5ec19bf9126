"""documents: files, knowledge collections, chunks and the sources answers cite

`collections`: a user's knowledge collections (names unique per user), shared read-only
with groups through `collection_groups`. `files`: uploads, as chat attachments
(`collection_id` NULL) or in a collection, with their indexing status. `message_files` and
`message_collections`: what a user message has in scope. `chunks`: the passages of indexed
files with their embeddings. `message_sources`: what an answer cites. `preset_collections`:
the collections a preset searches (docs/documents.md).
"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import (
    drop,
    fk,
    id_column,
    index,
    link_table,
    pk,
    string,
    timestamp,
    timestamps,
    unique,
)

revision = '0014'
down_revision = '0013'

ZERO = sa.text('0')


def upgrade() -> None:
    op.create_table('collections',
    id_column(),
    id_column('user_id'),
    string('name', 100),
    sa.Column('description', sa.Text(), nullable=True),
    string('embed_model', 300, nullable=True),
    *timestamps(),
    fk('collections', 'user_id', 'users'),
    pk('collections'),
    unique('collections', 'user_id', 'name')
    )
    link_table('collection_groups', ('collection_id', 'collections'), ('group_id', 'groups'))
    op.create_table('files',
    id_column(),
    id_column('user_id'),
    id_column('collection_id', nullable=True),
    string('name', 255),
    string('kind', 16, server_default='document'),
    string('content_type', 100, nullable=True),
    sa.Column('size', sa.BigInteger(), server_default=ZERO, nullable=False),
    string('sha256', 64, nullable=True),
    string('storage_key', 300),
    string('status', 16, server_default='uploading'),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('progress', sa.Integer(), server_default=ZERO, nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('chunk_count', sa.Integer(), server_default=ZERO, nullable=False),
    string('embed_model', 300, nullable=True),
    timestamp('upload_expires_at', nullable=True),
    *timestamps(),
    fk('files', 'user_id', 'users'),
    fk('files', 'collection_id', 'collections'),
    pk('files')
    )
    index('files', 'collection_id')
    index('files', 'user_id', 'created_at')
    link_table('message_files', ('message_id', 'messages'), ('file_id', 'files'),
               sa.Column('position', sa.Integer(), server_default=ZERO, nullable=False))
    link_table('message_collections', ('message_id', 'messages'), ('collection_id', 'collections'))
    op.create_table('chunks',
    id_column(),
    id_column('file_id'),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('page', sa.Integer(), nullable=True),
    string('section', 500, nullable=True),
    sa.Column('embedding', sa.LargeBinary(), nullable=True),
    fk('chunks', 'file_id', 'files'),
    pk('chunks'),
    unique('chunks', 'file_id', 'ordinal')
    )
    op.create_table('message_sources',
    id_column('message_id'),
    sa.Column('position', sa.Integer(), nullable=False),
    id_column('file_id'),
    id_column('chunk_id', nullable=True),
    string('file_name', 255),
    sa.Column('page', sa.Integer(), nullable=True),
    string('section', 500, nullable=True),
    sa.Column('excerpt', sa.Text(), nullable=False),
    fk('message_sources', 'message_id', 'messages'),
    fk('message_sources', 'file_id', 'files'),
    pk('message_sources', 'message_id', 'position')
    )
    index('message_sources', 'file_id')
    link_table('preset_collections', ('preset_id', 'presets'), ('collection_id', 'collections'))


def downgrade() -> None:
    drop('preset_collections', 'ix_preset_collections_collection_id')
    drop('message_sources', 'ix_message_sources_file_id')
    drop('chunks')
    drop('message_collections', 'ix_message_collections_collection_id')
    drop('message_files', 'ix_message_files_file_id')
    drop('files', 'ix_files_user_id_created_at', 'ix_files_collection_id')
    drop('collection_groups', 'ix_collection_groups_group_id')
    drop('collections')

"""ollama leases: the requests in flight on each Ollama node, shared by every process
(Lambdas share no memory), so the router can send a request to the least busy node.
"""

from alembic import op

from omnichat.db.migrations.columns import drop, id_column, index, pk, string, timestamps

revision = '0008'
down_revision = '0007'


def upgrade() -> None:
    op.create_table('ollama_leases',
    id_column(),
    string('node', 300),
    string('model', 300),
    *timestamps('started_at', 'expires_at', default=False),
    pk('ollama_leases')
    )
    index('ollama_leases', 'expires_at')


def downgrade() -> None:
    drop('ollama_leases', 'ix_ollama_leases_expires_at')

"""budgets and rate limits per user, group and API key; model prices; reservations

`model_prices`: what an admin charges per model (USD per million tokens, or per GPU-hour
for an Ollama model). `budgets`: limits per user, group or key. `budget_reservations`:
one row per model call in flight (its estimated tokens and cost), deleted when the call's
usage row is written. `usage.cost_micros`: each call's cost (millionths of a USD) at the
prices of its time. `usage_totals`: calls, tokens and cost per user and per key per UTC
day, kept with the usage rows, so a budget check adds up a month in at most 31 rows.
"""

import sqlalchemy as sa
from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, pk, string, timestamps, unique

revision = '0010'
down_revision = '0009'

ZERO = sa.text('0')


def upgrade() -> None:
    op.create_table('model_prices',
    string('model', 300),
    *(sa.Column(name, sa.Float(), server_default=ZERO, nullable=False)
      for name in ('input_per_mtok', 'output_per_mtok', 'cache_read_per_mtok', 'cache_write_per_mtok')),
    sa.Column('gpu_hour', sa.Float(), nullable=True),
    *timestamps('updated_at'),
    pk('model_prices', 'model')
    )
    op.create_table('budgets',
    id_column(),
    string('scope', 8),
    id_column('subject_id'),
    sa.Column('tokens_per_day', sa.BigInteger(), nullable=True),
    sa.Column('tokens_per_month', sa.BigInteger(), nullable=True),
    sa.Column('usd_per_day', sa.Float(), nullable=True),
    sa.Column('usd_per_month', sa.Float(), nullable=True),
    sa.Column('requests_per_minute', sa.Integer(), nullable=True),
    sa.Column('concurrent_streams', sa.Integer(), nullable=True),
    *timestamps(),
    pk('budgets'),
    unique('budgets', 'scope', 'subject_id')
    )
    op.create_table('budget_reservations',
    id_column(),
    id_column('user_id'),
    id_column('api_key_id', nullable=True),
    string('model', 300),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost_micros', sa.BigInteger(), nullable=False),
    *timestamps('started_at', 'expires_at', default=False),
    fk('budget_reservations', 'user_id', 'users'),
    pk('budget_reservations')
    )
    index('budget_reservations', 'user_id')
    index('budget_reservations', 'expires_at')
    with op.batch_alter_table('usage') as batch:
        batch.add_column(sa.Column('cost_micros', sa.BigInteger(), server_default=ZERO, nullable=False))
    index('usage', 'user_id', 'created_at')
    index('usage', 'api_key_id', 'created_at')
    op.create_table('usage_totals',
    string('kind', 8),
    id_column('subject_id'),
    string('day', 10),
    *(sa.Column(name, sa.BigInteger(), server_default=ZERO, nullable=False)
      for name in ('calls', 'tokens', 'cost_micros')),
    pk('usage_totals', 'kind', 'subject_id', 'day')
    )
    # The calls logged before budgets existed count too.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    day = "substr(created_at, 1, 10)" if sqlite else "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    tokens = "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"
    for kind, column in (('user', 'user_id'), ('key', 'api_key_id')):
        op.execute(f"INSERT INTO usage_totals (kind, subject_id, day, calls, tokens, cost_micros)"
                   f" SELECT '{kind}', {column}, {day}, count(*), sum({tokens}), 0 FROM usage"
                   f" WHERE {column} IS NOT NULL GROUP BY {column}, {day}")


def downgrade() -> None:
    drop('usage_totals')
    op.drop_index('ix_usage_api_key_id_created_at', table_name='usage')
    op.drop_index('ix_usage_user_id_created_at', table_name='usage')
    with op.batch_alter_table('usage') as batch:
        batch.drop_column('cost_micros')
    drop('budget_reservations', 'ix_budget_reservations_expires_at', 'ix_budget_reservations_user_id')
    drop('budgets')
    drop('model_prices')

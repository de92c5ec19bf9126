"""single sign-on: users' identities at OpenID Connect issuers, pending sign-in states

`sso_identities` ties an issuer's subject to a user. `sso_states` holds, per sign-in
attempt, what the callback needs (kind `state`: the nonce, the PKCE verifier and the
redirect URI, found by the hash of the `state` parameter) and the one-time code that
hands the new session to the web page or the terminal client (kind `handoff`); both are
short-lived and deleted when used.
"""

from alembic import op

from omnichat.db.migrations.columns import drop, fk, id_column, index, pk, string, timestamp, timestamps, unique

revision = '0012'
down_revision = '0011'


def upgrade() -> None:
    op.create_table('sso_identities',
    id_column(),
    id_column('user_id'),
    string('issuer', 500),
    string('subject', 255),
    *timestamps('created_at'),
    timestamp('last_sign_in_at', nullable=True),
    fk('sso_identities', 'user_id', 'users'),
    pk('sso_identities'),
    unique('sso_identities', 'issuer', 'subject')
    )
    index('sso_identities', 'user_id')
    op.create_table('sso_states',
    id_column(),
    string('kind', 16),
    string('secret_hash', 64),
    *(string(name, 128, nullable=True) for name in ('nonce', 'code_verifier')),
    *(string(name, 1000, nullable=True) for name in ('redirect_uri', 'return_to')),
    id_column('user_id', nullable=True),
    *timestamps('created_at'),
    timestamp('expires_at'),
    pk('sso_states'),
    unique('sso_states', 'secret_hash')
    )
    index('sso_states', 'expires_at')


def downgrade() -> None:
    drop('sso_states', 'ix_sso_states_expires_at')
    drop('sso_identities', 'ix_sso_identities_user_id')

"""Resolving a bearer credential (access token or API key) to a `Principal`.

Checked against the database on every request, so a deleted user, a demotion, a revoked
key or a signed-out session takes effect at once. Plain SQL over `omnichat.db.lite`: the
OpenAI gateway authenticates every call without loading SQLAlchemy, and the REST API runs
the same statements in its own unit of work (`Db.of_session`)."""

from __future__ import annotations

from datetime import timedelta

from omnichat.auth.opaque import hash_secret
from omnichat.auth.principal import Principal, groups_sql, read_groups
from omnichat.auth.standing import credential_gone
from omnichat.auth.tokens import decode_access_token
from omnichat.db.lite import Db, utcnow

API_KEY_PREFIX = "ock_"
# A key used many times a second records its last use once a minute.
LAST_USED_EVERY = timedelta(minutes=1)


def authenticate(db: Db, secret: str, credential: str) -> Principal:
    """The principal behind an API key (`ock_...`) or an access token signed with
    `secret` (an API key never needs the secret)."""
    if credential.startswith(API_KEY_PREFIX):
        return _api_key(db, credential)
    claims = decode_access_token(secret, credential)
    row = db.execute(f"SELECT u.id, u.email, u.role, {groups_sql(db.sqlite)} FROM users u"
                     " JOIN sessions s ON s.user_id = u.id WHERE s.id = ? AND u.id = ? AND s.expires_at > ?",
                     claims.session_id, claims.user_id, utcnow()).fetchone()
    if row is None:
        raise credential_gone(is_api_key=False)
    return Principal(user_id=row[0], email=row[1], role=row[2], session_id=claims.session_id,
                     groups=read_groups(row[3]))


def _api_key(db: Db, key: str) -> Principal:
    now = utcnow()
    row = db.execute("SELECT u.id, u.email, u.role, k.id, k.last_used_at IS NULL OR k.last_used_at < ?, "
                     f"{groups_sql(db.sqlite)} FROM users u JOIN api_keys k ON k.user_id = u.id"
                     " WHERE k.key_hash = ? AND k.revoked_at IS NULL",
                     now - LAST_USED_EVERY, hash_secret(key)).fetchone()
    if row is None:
        raise credential_gone(is_api_key=True)
    if row[4]:
        db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", now, row[3])
    return Principal(user_id=row[0], email=row[1], role=row[2], api_key_id=row[3], groups=read_groups(row[5]))

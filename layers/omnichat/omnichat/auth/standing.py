"""Whether the credential a WebSocket connection rides on still stands.

A connection is opened with a ticket, and the ticket was obtained with a credential: a
signed-in session (an access token) or an API key. The credential, not the ticket, is what
must stay valid for as long as the connection is used: the session row exists and has not
expired (sign-out, a password change and deleting the user remove it), the key is not
revoked, and the account is still active. One rule, one SQL expression, used where a ticket
is redeemed, on every frame (ws/dispatcher.py) and by streams choosing whom to deliver to.

Plain SQL on `omnichat.db.lite`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from omnichat.auth import policies
from omnichat.auth.principal import Principal, groups_sql, read_groups
from omnichat.errors import Unauthorized

if TYPE_CHECKING:
    from omnichat.db.lite import Db

# The credential joined to its user `u`; `{session}` and `{key}` are the columns (or `?`)
# that name it. It stands when one of the two joins finds a row and the account is active.
_JOINS = ("LEFT JOIN sessions s ON s.id = {session} AND s.user_id = u.id AND s.expires_at > ?"
          " LEFT JOIN api_keys k ON k.id = {key} AND k.user_id = u.id AND k.revoked_at IS NULL")
_STANDS = ("(s.id IS NOT NULL OR k.id IS NOT NULL) AND u.role IN ("
           + ", ".join(f"'{role}'" for role in policies.ACTIVE_ROLES) + ")")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def credential_gone(is_api_key: bool) -> Unauthorized:
    """The error for a credential that no longer stands, on every surface."""
    if is_api_key:
        return Unauthorized("The API key is invalid or revoked", code="invalid_api_key")
    return Unauthorized("The session has ended; sign in again", code="session_ended")


def current(db: Db, principal: Principal) -> Principal:
    """The principal as the database sees it now, in one query; raises `credential_gone`'s
    error (401) or `policies.active`'s (403) when its connection must end."""
    row = db.execute(f"SELECT u.id, u.email, u.role, s.id, k.id, {groups_sql(db.sqlite)} FROM users u "
                     + _JOINS.format(session="?", key="?")
                     + " WHERE u.id = ?", principal.session_id, _now(), principal.api_key_id,
                     principal.user_id).fetchone()
    if row is None or (row[3] is None and row[4] is None):
        raise credential_gone(principal.api_key_id is not None)
    now = Principal(row[0], row[1], row[2], session_id=row[3], api_key_id=row[4], groups=read_groups(row[5]))
    policies.active(now)
    return now


def redeem(db: Db, ticket_hash: str) -> Principal | None:
    """The principal of a claimed ticket, or None when the credential that obtained it no
    longer stands (or never was recorded)."""
    row = db.execute(f"SELECT u.id, u.email, u.role, s.id, k.id, {groups_sql(db.sqlite)} FROM ws_tickets t"
                     " JOIN users u ON u.id = t.user_id "
                     + _JOINS.format(session="t.session_id", key="t.api_key_id")
                     + f" WHERE t.ticket_hash = ? AND {_STANDS}", _now(), ticket_hash).fetchone()
    if row is None:
        return None
    return Principal(row[0], row[1], row[2], session_id=row[3], api_key_id=row[4], groups=read_groups(row[5]))


def live_subscribers(db: Db, message_id: str) -> frozenset[str]:
    """The connections a stream still delivers to: its subscribers, less the registered
    connections whose credential no longer stands (an answer streaming to a revoked
    connection finishes and is saved, but no longer reaches it)."""
    rows = db.execute("SELECT ss.connection_id FROM stream_subscribers ss"
                      " LEFT JOIN connections c ON c.connection_id = ss.connection_id"
                      " LEFT JOIN users u ON u.id = c.user_id "
                      + _JOINS.format(session="c.session_id", key="c.api_key_id")
                      + f" WHERE ss.message_id = ? AND (c.connection_id IS NULL OR ({_STANDS}))",
                      _now(), message_id).fetchall()
    return frozenset(row[0] for row in rows)

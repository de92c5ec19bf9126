"""WebSocket tickets: the browser cannot set headers on a WebSocket, so it trades its
token for a single-use ticket (at most 60 s) that goes in the connect URL's query string,
where a leaked copy is worthless once used or expired. The authorizer redeems it
(`redeem`).

A ticket records the credential that obtained it (the session of an access token, or the
API key), and the connection it opens rides on that credential: when it stops standing
(sign-out, password change, revoked key), so does the connection (omnichat.auth.standing)."""

from __future__ import annotations

from datetime import timedelta

from omnichat.auth import standing
from omnichat.auth.opaque import hash_secret, new_secret
from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db import lite
from omnichat.db.lite import Db, utcnow
from omnichat.errors import Unauthorized
from omnichat.ids import new_id

TICKET_PREFIX = "wst_"


def issue(db: Db, settings: Settings, principal: Principal) -> tuple[str, int]:
    """A new ticket for a principal authenticated by a session or an API key (one issued
    to a principal with neither is never redeemed); expired tickets (used or not) are
    dropped at the same time."""
    ttl = min(settings.ws_ticket_ttl_s, 60)
    plaintext = new_secret(TICKET_PREFIX, 24)
    now = utcnow()
    db.execute("DELETE FROM ws_tickets WHERE expires_at <= ?", now)
    db.insert("ws_tickets", {"id": new_id(), "user_id": principal.user_id, "ticket_hash": hash_secret(plaintext),
                             "created_at": now, "expires_at": now + timedelta(seconds=ttl), "used_at": None,
                             "session_id": principal.session_id, "api_key_id": principal.api_key_id})
    return plaintext, ttl


def redeem(url: str, ticket: str) -> Principal:
    """A ticket, redeemed exactly once: the conditional UPDATE lets only one of two
    concurrent redemptions change the row. The principal carries the credential that
    obtained the ticket, which must still stand (omnichat.auth.standing)."""
    digest, now = hash_secret(ticket), utcnow()

    def work(db: Db) -> Principal | None:
        claimed = db.execute("UPDATE ws_tickets SET used_at = ? WHERE ticket_hash = ? AND used_at IS NULL"
                             " AND expires_at > ?", now, digest, now).rowcount
        return standing.redeem(db, digest) if claimed == 1 else None

    principal = lite.run(url, work)
    if principal is None:
        raise Unauthorized("The ticket is invalid, expired or already used, or its sign-in has ended",
                           code="invalid_ticket")
    return principal

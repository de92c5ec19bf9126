"""WebSocket tickets: the browser cannot set headers on a WebSocket, so it trades its
token for a single-use ticket (at most 60 s) that goes in the connect URL's query string,
where a leaked copy is worthless once used or expired. Redeeming one is
`omnichat.db.lite.redeem_ticket` (the authorizer).

A ticket records the credential that obtained it (the session of an access token, or the
API key), and the connection it opens rides on that credential: when it stops standing
(sign-out, password change, revoked key), so does the connection (omnichat.auth.standing)."""

from __future__ import annotations

from datetime import timedelta

from omnichat.auth.opaque import hash_secret, new_secret
from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
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

"""WebSocket tickets: the browser cannot set headers on a WebSocket, so it trades its
token for a single-use ticket (at most 60 s) that goes in the connect URL's query string,
where a leaked copy is worthless once used or expired."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from omnichat.auth.opaque import hash_secret, new_secret
from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db.models import WsTicket, utcnow

TICKET_PREFIX = "wst_"


def issue(db: Session, settings: Settings, principal: Principal) -> tuple[str, int]:
    ttl = min(settings.ws_ticket_ttl_s, 60)
    plaintext = new_secret(TICKET_PREFIX, 24)
    db.add(WsTicket(user_id=principal.user_id, ticket_hash=hash_secret(plaintext),
                    expires_at=utcnow() + timedelta(seconds=ttl)))
    return plaintext, ttl


def prune(db: Session) -> None:
    db.execute(delete(WsTicket).where(WsTicket.expires_at <= utcnow()))

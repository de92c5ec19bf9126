"""WebSocket tickets: the browser cannot set headers on a WebSocket, so it trades its
token for a single-use ticket (at most 60 s) that goes in the connect URL's query string,
where a leaked copy is worthless once used or expired."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from omnichat.auth.opaque import hash_secret, new_secret
from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db.models import User, WsTicket, utcnow
from omnichat.errors import Unauthorized

TICKET_PREFIX = "wst_"


def issue(db: Session, settings: Settings, principal: Principal) -> tuple[str, int]:
    ttl = min(settings.ws_ticket_ttl_s, 60)
    plaintext = new_secret(TICKET_PREFIX, 24)
    db.add(WsTicket(user_id=principal.user_id, ticket_hash=hash_secret(plaintext),
                    expires_at=utcnow() + timedelta(seconds=ttl)))
    return plaintext, ttl


def consume(db: Session, ticket: str) -> Principal:
    """Redeem a ticket exactly once. The conditional UPDATE makes two concurrent
    redemptions of one ticket impossible: only one of them changes a row."""
    now = utcnow()
    ticket_hash = hash_secret(ticket)
    result = db.execute(
        update(WsTicket)
        .where(WsTicket.ticket_hash == ticket_hash, WsTicket.used_at.is_(None), WsTicket.expires_at > now)
        .values(used_at=now)
    )
    if result.rowcount != 1:
        raise Unauthorized("The ticket is invalid, expired or already used", code="invalid_ticket")
    user = db.scalar(select(User).join(WsTicket, WsTicket.user_id == User.id).where(WsTicket.ticket_hash == ticket_hash))
    if user is None or user.role not in ("admin", "user"):
        raise Unauthorized("The account cannot open a chat connection", code="invalid_ticket")
    return Principal(user_id=user.id, email=user.email, role=user.role)


def prune(db: Session) -> None:
    db.execute(delete(WsTicket).where(WsTicket.expires_at <= utcnow()))

"""Sign-in throttling, kept in the database so that every Lambda instance sees the same
counts: too many recent failures for an account or from an address answer 429. Plain
SQL over `omnichat.db.lite`."""

from __future__ import annotations

from datetime import timedelta

from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
from omnichat.errors import TooManyRequests
from omnichat.ids import new_id


def _scopes(email: str, address: str | None) -> list[tuple[str, str]]:
    scopes = [("account", f"email:{email}")]
    if address:
        scopes.append(("address", f"ip:{address}"))
    return scopes


def check_allowed(db: Db, settings: Settings, email: str, address: str | None) -> None:
    since = utcnow() - timedelta(seconds=settings.signin_window_s)
    limits = {"account": settings.signin_max_failures_account,
              "address": settings.signin_max_failures_address}
    for kind, scope in _scopes(email, address):
        count = db.execute("SELECT count(*) FROM signin_failures WHERE scope = ? AND created_at >= ?",
                           scope, since).fetchone()[0]
        if (count or 0) >= limits[kind]:
            raise TooManyRequests(
                "Too many failed sign-in attempts; try again later",
                code="signin_throttled",
                headers={"Retry-After": str(settings.signin_window_s)},
            )


def record_failure(db: Db, settings: Settings, email: str, address: str | None) -> None:
    """Count a failure; failures older than the window no longer count and are dropped."""
    now = utcnow()
    db.execute("DELETE FROM signin_failures WHERE created_at < ?", now - timedelta(seconds=settings.signin_window_s))
    for _kind, scope in _scopes(email, address):
        db.insert("signin_failures", {"id": new_id(), "scope": scope, "created_at": now})


def clear_account(db: Db, email: str) -> None:
    db.execute("DELETE FROM signin_failures WHERE scope = ?", f"email:{email}")

"""Sign-in throttling, kept in the database so that every Lambda instance sees the same
counts: too many recent failures for an account or from an address answer 429."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from omnichat.config import Settings
from omnichat.db.models import SignInFailure, utcnow
from omnichat.errors import TooManyRequests


def _scopes(email: str, address: str | None) -> list[tuple[str, str]]:
    scopes = [("account", f"email:{email}")]
    if address:
        scopes.append(("address", f"ip:{address}"))
    return scopes


def check_allowed(db: Session, settings: Settings, email: str, address: str | None) -> None:
    since = utcnow() - timedelta(seconds=settings.signin_window_s)
    limits = {"account": settings.signin_max_failures_account,
              "address": settings.signin_max_failures_address}
    for kind, scope in _scopes(email, address):
        count = db.scalar(
            select(func.count()).select_from(SignInFailure)
            .where(SignInFailure.scope == scope, SignInFailure.created_at >= since)
        )
        if (count or 0) >= limits[kind]:
            raise TooManyRequests(
                "Too many failed sign-in attempts; try again later",
                code="signin_throttled",
                headers={"Retry-After": str(settings.signin_window_s)},
            )


def record_failure(db: Session, email: str, address: str | None) -> None:
    for _kind, scope in _scopes(email, address):
        db.add(SignInFailure(scope=scope))


def clear_account(db: Session, email: str) -> None:
    db.execute(delete(SignInFailure).where(SignInFailure.scope == f"email:{email}"))


def prune(db: Session, settings: Settings) -> None:
    cutoff = utcnow() - timedelta(seconds=settings.signin_window_s)
    db.execute(delete(SignInFailure).where(SignInFailure.created_at < cutoff))

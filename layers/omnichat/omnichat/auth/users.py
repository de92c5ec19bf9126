"""Accounts and sessions: sign up, sign in, sign out, password change. Resolving a bearer
credential to a `Principal` is `omnichat.auth.credentials`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnichat import settings_store
from omnichat.auth import passwords, throttle
from omnichat.auth.principal import Principal
from omnichat.auth.tokens import issue_access_token
from omnichat.config import Settings
from omnichat.db.lite import Db
from omnichat.db.models import AuthSession, User, utcnow
from omnichat.errors import BadRequest, Conflict, Forbidden, Unauthorized

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise BadRequest("Enter a valid email address", code="invalid_email")
    return email


def check_password_rules(password: str) -> None:
    if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
        raise BadRequest(
            f"Passwords have {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters",
            code="weak_password",
        )


def sign_up(db: Session, settings: Settings, email: str, password: str, name: str) -> User:
    email = normalize_email(email)
    check_password_rules(password)
    first_user = not db.scalar(select(func.count()).select_from(User))
    policy = settings_store.signup_policy(Db.of_session(db), settings)
    if first_user:
        role = "admin"
    elif policy == "closed":
        raise Forbidden("Sign-up is closed on this server", code="signup_closed")
    else:
        role = "pending" if policy == "approval" else "user"
    if db.scalar(select(User.id).where(User.email == email)):
        raise Conflict("An account with this email already exists", code="email_taken")
    user = User(email=email, name=name.strip()[:200], password_hash=passwords.hash_password(password), role=role)
    db.add(user)
    try:
        db.flush()
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        db.rollback()
        raise Conflict("An account with this email already exists", code="email_taken") from None
    return user


def start_session(db: Session, settings: Settings, secret: str, user: User) -> tuple[str, AuthSession]:
    session = AuthSession(user_id=user.id, expires_at=utcnow() + timedelta(seconds=settings.access_token_ttl_s))
    db.add(session)
    db.flush()
    return issue_access_token(secret, user.id, session.id, settings.access_token_ttl_s), session


def sign_in(db: Session, settings: Settings, secret: str, email: str, password: str,
            address: str | None) -> tuple[str, User]:
    email = email.strip().lower()
    throttle.check_allowed(db, settings, email, address)
    user = db.scalar(select(User).where(User.email == email))
    # Verify against a dummy hash for unknown accounts: same cost, no account enumeration.
    ok = passwords.verify_password(user.password_hash if user else passwords.dummy_hash(), password)
    if not user or not ok:
        throttle.record_failure(db, email, address)
        db.commit()  # the error below rolls the request back; the failure must still count
        raise Unauthorized("Wrong email or password", code="invalid_credentials")
    throttle.clear_account(db, email)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    token, _ = start_session(db, settings, secret, user)
    return token, user


def sign_out(db: Session, principal: Principal) -> None:
    if principal.session_id:
        db.execute(delete(AuthSession).where(AuthSession.id == principal.session_id))


def change_password(db: Session, principal: Principal, current: str, new: str) -> None:
    user = db.get(User, principal.user_id)
    if user is None or not passwords.verify_password(user.password_hash, current):
        raise Unauthorized("The current password is wrong", code="invalid_credentials")
    check_password_rules(new)
    user.password_hash = passwords.hash_password(new)
    # Every other session ends: a stolen token dies with the old password.
    db.execute(delete(AuthSession).where(AuthSession.user_id == user.id,
                                         AuthSession.id != principal.session_id))


def prune_sessions(db: Session, now: datetime | None = None) -> None:
    db.execute(delete(AuthSession).where(AuthSession.expires_at <= (now or datetime.now(timezone.utc))))

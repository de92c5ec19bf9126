"""Accounts and sessions: sign up, sign in, sign out, password change. Resolving a bearer
credential to a `Principal` is `omnichat.auth.credentials`. Plain SQL over
`omnichat.db.lite`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from omnichat import settings_store
from omnichat.auth import password_rules, passwords, throttle
from omnichat.auth.principal import Principal
from omnichat.auth.tokens import issue_access_token
from omnichat.config import Settings
from omnichat.db.lite import Db, Record, utcnow
from omnichat.errors import BadRequest, Forbidden, NotFound, Unauthorized
from omnichat.ids import new_id

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass
class UserRow(Record):
    TABLE = "users"

    id: str
    email: str
    name: str
    password_hash: str
    role: str  # admin | user | pending
    created_at: datetime
    updated_at: datetime


def get_user(db: Db, user_id: str) -> UserRow:
    user = UserRow.first(db, "WHERE id = ?", user_id)
    if user is None:
        raise NotFound("No such user", code="user_not_found")
    return user


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise BadRequest("Enter a valid email address", code="invalid_email")
    return email


def sign_up(db: Db, settings: Settings, email: str, password: str, name: str,
            address: str | None = None) -> UserRow | None:
    """The new account, or None when the email is already registered. Callers answer both
    the same way, and both cost the same (one password hash), so that sign-up does not tell
    who has an account here (docs/security.md, "Sign-up")."""
    email = normalize_email(email)
    password_rules.check(password, email)
    first_user = db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None
    policy = settings_store.signup_policy(db, settings)
    if not settings.password_signin and not first_user:  # the first account: the break-glass admin
        raise Forbidden("Sign-up with a password is switched off on this server: use single sign-on",
                        code="password_signin_disabled")
    if first_user:
        role = "admin"
    elif policy == "closed":
        raise Forbidden("Sign-up is closed on this server", code="signup_closed")
    else:
        role = "pending" if policy == "approval" else "user"
    throttle.check_signup(db, settings, address)
    now = utcnow()
    user = UserRow(id=new_id(), email=email, name=name.strip()[:200], password_hash=passwords.hash_password(password),
                   role=role, created_at=now, updated_at=now)
    # Taken (perhaps by a concurrent sign-up that won the race): nothing is inserted.
    if user.insert(db, "ON CONFLICT (email) DO NOTHING").rowcount != 1:
        return None
    throttle.remember_address(db, email, address)
    return user


def sign_up_options(db: Db, settings: Settings) -> dict[str, Any]:
    """The policy a sign-up meets now, as sign_up() applies it (the first account is made,
    as the administrator, whatever the policy), and whether an administrator exists."""
    first_user = db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None
    has_admin = db.execute("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").fetchone() is not None
    return {"signup": "open" if first_user else settings_store.signup_policy(db, settings), "has_admin": has_admin,
            "password_signin": settings.password_signin,
            "sso": {"name": settings.oidc_display_name, "start_url": "/api/auth/sso/start"}
            if settings.sso_enabled else None}


def may_use_password(settings: Settings, user: UserRow) -> bool:
    """With password sign-in switched off, only a break-glass admin may use one: an admin
    listed in OMNICHAT_BREAK_GLASS_EMAILS (none listed: any admin)."""
    if settings.password_signin:
        return True
    listed = {e.strip().lower() for e in settings.break_glass_emails.split(",") if e.strip()}
    return user.role == "admin" and (not listed or user.email in listed)


def start_session(db: Db, settings: Settings, secret: str, user: UserRow) -> str:
    """A new session and its access token. The user's expired sessions go at the same time."""
    now = utcnow()
    session_id = new_id()
    db.execute("DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?", user.id, now)
    db.insert("sessions", {"id": session_id, "user_id": user.id, "created_at": now,
                           "expires_at": now + timedelta(seconds=settings.access_token_ttl_s)})
    return issue_access_token(secret, user.id, session_id, settings.access_token_ttl_s)


def sign_in(db: Db, settings: Settings, secret: str, email: str, password: str,
            address: str | None) -> tuple[str, UserRow]:
    email = email.strip().lower()
    attempt = throttle.check_signin(db, settings, email, address)
    user = UserRow.first(db, "WHERE email = ?", email)
    # Verify against a dummy hash for unknown accounts: same cost, no account enumeration.
    ok = passwords.verify_password(user.password_hash if user else passwords.dummy_hash(), password)
    if not user or not ok:
        throttle.record_failure(db, settings, attempt)
        db.commit()  # the error below rolls the request back; the failure must still count
        raise Unauthorized("Wrong email or password", code="invalid_credentials")
    throttle.record_success(db, attempt)
    if not may_use_password(settings, user):
        raise Forbidden("Password sign-in is switched off on this server: use single sign-on",
                        code="password_signin_disabled")
    if passwords.needs_rehash(user.password_hash):
        _set_password(db, user, password)
    return start_session(db, settings, secret, user), user


def _set_password(db: Db, user: UserRow, password: str) -> None:
    user.password_hash, user.updated_at = passwords.hash_password(password), utcnow()
    db.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
               user.password_hash, user.updated_at, user.id)


def sign_out(db: Db, principal: Principal) -> None:
    if principal.session_id:
        db.execute("DELETE FROM sessions WHERE id = ?", principal.session_id)


def rename(db: Db, principal: Principal, name: str) -> UserRow:
    """The name a person goes by (the sidebar, greetings, the admin's list); blank is allowed."""
    user = get_user(db, principal.user_id)
    user.name, user.updated_at = name.strip(), utcnow()
    db.execute("UPDATE users SET name = ?, updated_at = ? WHERE id = ?", user.name, user.updated_at, user.id)
    return user


def change_password(db: Db, principal: Principal, current: str, new: str) -> None:
    user = UserRow.first(db, "WHERE id = ?", principal.user_id)
    if user is None or not passwords.verify_password(user.password_hash, current):
        raise Unauthorized("The current password is wrong", code="invalid_credentials")
    password_rules.check(new, user.email)
    _set_password(db, user, new)
    # Every other session ends: a stolen token dies with the old password.
    db.execute("DELETE FROM sessions WHERE user_id = ? AND id <> ?", user.id, principal.session_id or "")

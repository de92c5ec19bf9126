"""The account behind a validated id token: found by the issuer's subject, else linked to
the account of the same (verified) email, else made, as a sign-up is, under the signup
policy (the first account is the admin; `approval` makes it pending; `closed` refuses).
At every sign-in the group claim sets the user's identity-provider groups, and the admin
group (when configured) makes or unmakes an admin: a changed claim takes effect at the
next sign-in. All in the caller's transaction: a refusal leaves nothing behind."""

from __future__ import annotations

from typing import Any

from omnichat import settings_store
from omnichat.auth import groups
from omnichat.auth.users import UserRow, normalize_email
from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
from omnichat.errors import BadRequest, Forbidden
from omnichat.ids import new_id

# An account made by single sign-on has no password: no argon2 hash is this, so a
# password sign-in with it always fails.
NO_PASSWORD = "!sso"


def claim_values(claims: dict[str, Any], name: str) -> list[str]:
    """The group claim's values: a list of strings, or one string (space- or comma-separated)."""
    value = claims.get(name)
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return []


def _email(claims: dict[str, Any]) -> str:
    for name in ("email", "preferred_username", "upn"):
        value = claims.get(name)
        if isinstance(value, str) and "@" in value:
            try:
                return normalize_email(value)
            except BadRequest:
                continue
    raise BadRequest("The identity provider gave no email address for this account: add the email scope "
                     "or claim", code="sso_no_email")


def sign_in(db: Db, settings: Settings, issuer: str, claims: dict[str, Any]) -> UserRow:
    """The user the claims name, made or updated; their groups synced."""
    subject = str(claims["sub"])
    values = claim_values(claims, settings.oidc_groups_claim)
    is_admin_by_claim = bool(settings.oidc_admin_group) and settings.oidc_admin_group in values
    now = utcnow()
    # Two sign-ins of one person at once (two tabs, a double submit at the issuer) must not
    # both make the account: the second waits here, then finds what the first made.
    db.lock("sso", issuer, subject)
    user = UserRow.first(db, "WHERE id = (SELECT user_id FROM sso_identities WHERE issuer = ? AND subject = ?)",
                         issuer, subject)
    if user is None:
        email = _email(claims)
        db.lock("sso-email", email)  # likewise two subjects with one email (after the subject's: one order)
        user = UserRow.first(db, "WHERE email = ?", email)
        if user is not None and claims.get("email_verified") is not True:
            raise Forbidden("An account with this email exists already, and the identity provider does not "
                            "vouch that the address is verified: ask an administrator", code="sso_email_taken")
        if user is None:
            user = _new_user(db, settings, email, claims, is_admin_by_claim)
        db.insert("sso_identities", {"id": new_id(), "user_id": user.id, "issuer": issuer, "subject": subject,
                                     "created_at": now, "last_sign_in_at": now})
    else:
        db.execute("UPDATE sso_identities SET last_sign_in_at = ? WHERE issuer = ? AND subject = ?",
                   now, issuer, subject)
    _sync_role(db, settings, user, is_admin_by_claim)
    groups.sync_from_claim(db, user.id, values)
    return user


def _new_user(db: Db, settings: Settings, email: str, claims: dict[str, Any], admin: bool) -> UserRow:
    first_user = db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None
    policy = settings_store.signup_policy(db, settings)
    if first_user or admin:
        role = "admin"
    elif policy == "closed":
        raise Forbidden("Sign-up is closed on this server: ask an administrator for an account",
                        code="signup_closed")
    else:
        role = "pending" if policy == "approval" else "user"
    name = claims.get("name") if isinstance(claims.get("name"), str) else ""
    now = utcnow()
    user = UserRow(id=new_id(), email=email, name=str(name).strip()[:200], password_hash=NO_PASSWORD, role=role,
                   created_at=now, updated_at=now)
    user.insert(db)
    return user


def _sync_role(db: Db, settings: Settings, user: UserRow, admin: bool) -> None:
    """With an admin group configured, the claim decides who is an admin: a member becomes
    one, an admin who left the group becomes a user (the last admin stays one)."""
    if not settings.oidc_admin_group:
        return
    role = user.role
    if admin:
        role = "admin"
    elif user.role == "admin":
        admins = db.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone()[0] or 0
        role = "user" if admins > 1 else "admin"
    if role != user.role:
        user.role, user.updated_at = role, utcnow()
        db.execute("UPDATE users SET role = ?, updated_at = ? WHERE id = ?", role, user.updated_at, user.id)

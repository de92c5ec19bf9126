"""The authorization rules, once, for every surface. Each surface keeps one table naming
the rule of each of its routes or actions — the REST API (api/deps.py `POLICIES`), the
WebSocket dispatcher (ws/dispatcher.py `POLICIES`) and the OpenAI gateway
(openai_compat/app.py `POLICIES`) — and the same condition answers the same error code
everywhere. Who the caller is (an unknown, ended or revoked credential: 401) is settled
before a rule runs (auth/credentials.py, auth/standing.py)."""

from __future__ import annotations

from collections.abc import Callable

from omnichat.auth.principal import Principal
from omnichat.errors import Forbidden

ACTIVE_ROLES = ("admin", "user")

Rule = Callable[[Principal], None]


def signed_in(principal: Principal) -> None:
    """Any account, including one still pending approval (it may see who it is)."""


def active(principal: Principal) -> None:
    """An approved user or an admin."""
    if principal.role == "pending":
        raise Forbidden("Your account is waiting for an admin's approval", code="account_pending")
    if principal.role not in ACTIVE_ROLES:
        raise Forbidden("Your account cannot do this", code="account_disabled")


def session(principal: Principal) -> None:
    """A signed-in session, not an API key: a leaked key cannot mint more keys, change
    the password or end the owner's sessions."""
    if principal.api_key_id is not None:
        raise Forbidden("This action needs a signed-in session, not an API key", code="session_required")


def active_session(principal: Principal) -> None:
    active(principal)
    session(principal)


def admin(principal: Principal) -> None:
    active(principal)
    if principal.role != "admin":
        raise Forbidden("Only an admin can do this", code="admin_only")


RULES: dict[str, Rule] = {"signed_in": signed_in, "active": active, "session": session,
                          "active_session": active_session, "admin": admin}

"""Request dependencies, and the authorization policies: the one place that decides who
may call what. Routers attach a policy to every route they hold (see routers/); a route
never checks roles itself, and ownership is enforced by the services' owner-scoped
lookups (another user's object is "not found")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, params

from omnichat import audit
from omnichat.auth import policies
from omnichat.auth.credentials import authenticate
from omnichat.auth.principal import Principal
from omnichat.config import Settings, app_jwt_secret
from omnichat.db import lite
from omnichat.db.lite import Db
from omnichat.errors import Unauthorized


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (config.get_settings() unless a test gave others)."""
    settings: Settings = request.app.state.settings
    return settings


def get_sql(request: Request) -> Iterator[Db]:
    """One transaction per request (plain SQL over omnichat.db.lite), committed before
    the response is sent (the dependency is function-scoped, see `SQL`)."""
    with lite.transaction(request.app.state.settings.resolved_database_url) as db:
        yield db


SQL = Annotated[Db, Depends(get_sql, scope="function")]
AppSettings = Annotated[Settings, Depends(app_settings)]


def bearer_credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def optional_principal(request: Request, db: SQL) -> Principal | None:
    credential = bearer_credential(request)
    if credential is None:
        return None
    principal = authenticate(db, app_jwt_secret(request.app.state), credential)
    request.state.principal = principal
    return principal


def signed_in(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """Any account, including one still pending approval (it may see who it is)."""
    if principal is None:
        raise Unauthorized("Sign in, or send an API key as a bearer token", code="unauthenticated")
    return principal


# The rules themselves are the core's (omnichat.auth.policies), shared with the WebSocket
# dispatcher and the OpenAI gateway: the same condition, the same error code.
def active(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """An approved user or an admin."""
    policies.active(principal)
    return principal


def interactive(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """A signed-in session, not an API key (policies.session)."""
    policies.session(principal)
    return principal


def admin(principal: Annotated[Principal, Depends(active)]) -> Principal:
    policies.admin(principal)
    return principal


# The principal of a request whose router policy has already admitted it (FastAPI caches
# `signed_in` per request, so this costs nothing more).
CurrentUser = Annotated[Principal, Depends(signed_in)]

# Policy name -> the dependencies that enforce it; app.py gives every router one.
POLICIES: dict[str, list[params.Depends]] = {
    "public": [],
    "signed_in": [Depends(signed_in)],
    "active": [Depends(active)],
    "session": [Depends(interactive)],
    "active_session": [Depends(active), Depends(interactive)],
    "admin": [Depends(admin)],
}


def client_address(request: Request) -> str | None:
    # Behind API Gateway, Mangum puts requestContext.http.sourceIp in scope["client"].
    return request.client.host if request.client else None


def audit_origin(request: Request) -> audit.Origin:
    """Who is calling and from where, for `audit.record`: the principal the route's policy
    admitted (none on public routes), the client address and the user agent."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return audit.Origin(user_id=principal.user_id if principal else None, label=principal.email if principal else "",
                        address=client_address(request), user_agent=request.headers.get("user-agent"))


AuditOrigin = Annotated[audit.Origin, Depends(audit_origin)]

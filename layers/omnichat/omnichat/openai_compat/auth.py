"""Who is calling the gateway: `Authorization: Bearer <API key>` (or a session token;
`x-api-key: <API key>` is accepted too).

Checked against the database on every request (`omnichat.auth.credentials`), so
a revoked key (401) or an account set back to pending (403) is refused at once. The
JWT secret is only loaded for session tokens: an API-key call never needs it, and a cold
start never fetches it."""

from __future__ import annotations

from starlette.requests import Request

from omnichat.auth.principal import Principal
from omnichat.auth.credentials import API_KEY_PREFIX, authenticate
from omnichat.config import Settings, app_jwt_secret
from omnichat.db import lite

from .errors import GatewayError

def bearer(request: Request) -> str | None:
    """`Authorization: Bearer <credential>`, or `x-api-key: <key>` as some clients send it."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key", "").strip() or None


def active_principal(request: Request) -> Principal:
    """The route policy of every /v1 route: an approved user or an admin. Blocking (the
    database): app.py runs it on a worker thread."""
    credential = bearer(request)
    if credential is None:
        raise GatewayError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                           code="missing_api_key")
    settings: Settings = request.app.state.settings
    secret = "" if credential.startswith(API_KEY_PREFIX) else app_jwt_secret(request.app.state)
    principal = lite.run(settings.resolved_database_url, lambda db: authenticate(db, secret, credential))
    if principal.role == "pending":
        raise GatewayError(403, "Your account is waiting for an admin's approval.", code="account_pending")
    if not principal.is_active:
        raise GatewayError(403, "Your account cannot use the API.", code="account_disabled")
    request.state.principal = principal
    return principal

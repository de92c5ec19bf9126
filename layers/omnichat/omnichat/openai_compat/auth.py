"""Who is calling the gateway: `Authorization: Bearer <API key>` (or a session token;
`x-api-key: <API key>` is accepted too), and whether the route's policy admits them.

The credential is checked against the database on every request
(`omnichat.auth.credentials`) and the rule is the core's (`omnichat.auth.policies`), so a
revoked key (401 `invalid_api_key`) or an account set back to pending (403
`account_pending`) is refused at once, with the codes the REST API and the WebSocket use.
The JWT secret is only loaded for session tokens: an API-key call never needs it, and a
cold start never fetches it."""

from __future__ import annotations

from starlette.requests import Request

from omnichat.auth import policies
from omnichat.auth.credentials import API_KEY_PREFIX, authenticate
from omnichat.auth.principal import Principal
from omnichat.config import Settings, app_jwt_secret
from omnichat.db import lite

from .errors import GatewayError


def bearer(request: Request) -> str | None:
    """`Authorization: Bearer <credential>`, or `x-api-key: <key>` as some clients send it."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key", "").strip() or None


def authorized(request: Request, policy: str) -> Principal:
    """The caller, authenticated and admitted by `policy` (a rule of
    `omnichat.auth.policies`); raises the platform's errors, which leave in OpenAI's shape.
    Blocking (the database): app.py runs it on a worker thread."""
    credential = bearer(request)
    if credential is None:
        raise GatewayError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                           code="unauthenticated")
    settings: Settings = request.app.state.settings
    secret = "" if credential.startswith(API_KEY_PREFIX) else app_jwt_secret(request.app.state)
    principal = lite.run(settings.resolved_database_url, lambda db: authenticate(db, secret, credential))
    policies.RULES[policy](principal)
    request.state.principal = principal
    return principal

"""/api/auth/sso: single sign-on with an OpenID Connect issuer (auth/sso.py).

`start` sends the browser to the issuer; the issuer sends it back to `callback`, which
sends it on to the web page (or the terminal client's loopback address) with a one-time
code, or with an error code the page explains; `exchange` trades that code for a session,
as a password sign-in gives one. Public routes: they are how one signs in."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import Field

from omnichat import audit
from omnichat.api.deps import SQL, AppSettings, AuditOrigin, client_address
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import SessionOut, Strict, UserOut
from omnichat.auth import throttle, users
from omnichat.config import Settings, app_jwt_secret
from omnichat.db import lite
from omnichat.errors import AppError, BadRequest, TooManyRequests

log = logging.getLogger("omnichat.sso")
router = APIRouter(route_class=CheckedRoute, prefix="/api/auth/sso", tags=["auth"])

# The browser that started a sign-in carries its state in this cookie, and the callback
# goes on only when the cookie matches the `state` it was sent: a callback URL made by
# someone else (their own code and state, sent to a victim: login CSRF, the victim then
# typing into the sender's account) is refused.
STATE_COOKIE = "omnichat_sso_state"
COOKIE_PATH = "/api/auth/sso"


class ExchangeIn(Strict):
    code: str = Field(min_length=1, max_length=200)


def _loopback(port: int) -> str:
    return f"http://127.0.0.1:{port}/callback"


def _back(settings: Settings, return_to: str | None, **params: str) -> RedirectResponse:
    """To the web page (or the terminal client's loopback address) with `params`."""
    target = return_to or settings.oidc_return_url or "/"
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}{urlencode(params)}", status_code=302)


def _failed(settings: Settings, return_to: str | None, error: AppError,
            origin: audit.Origin | None = None) -> RedirectResponse:
    error.log(log, "single sign-on")
    if origin is not None:  # the audit log: who (nobody yet), why, from where; committed on its own
        lite.run(settings.resolved_database_url, lambda db: audit.record(
            db, origin.acting_as(None, "(single sign-on)"), "auth.sign_in_failed",
            details={"method": "sso", "reason": str(error.code)}))
    if return_to and return_to.startswith("http://127.0.0.1:"):  # the terminal client prints the message
        return _back(settings, return_to, sso_error=str(error.code), message=error.message)
    return _back(settings, return_to, sso_error=str(error.code))


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_uri or str(request.url_for("sso_callback"))


@router.get("/start", status_code=302, response_class=RedirectResponse, responses=error_responses(404))
def sso_start(request: Request, settings: AppSettings,
              cli_port: int | None = Query(None, ge=1024, le=65535)) -> RedirectResponse:
    """To the identity provider's sign-in page. `cli_port`: the terminal client waits on
    that loopback port for the result."""
    from omnichat.auth import sso

    if not settings.sso_enabled:
        raise sso.not_configured()
    return_to = _loopback(cli_port) if cli_port else None
    redirect_uri = _redirect_uri(request, settings)
    address = client_address(request)

    def begin(db: lite.Db) -> tuple[str, str]:
        throttle.check_sso_start(db, settings, address)
        return sso.start(db, settings, redirect_uri, return_to or "")

    try:
        url, state = lite.run(settings.resolved_database_url, begin)
    except (sso.SsoError, TooManyRequests) as error:  # back to the page, which says why
        return _failed(settings, return_to, error)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(STATE_COOKIE, state, max_age=int(sso.STATE_TTL.total_seconds()), path=COOKIE_PATH,
                        httponly=True, samesite="lax", secure=redirect_uri.startswith("https:"))
    return response


@router.get("/callback", name="sso_callback", status_code=302, response_class=RedirectResponse)
def sso_callback(request: Request, settings: AppSettings, origin: AuditOrigin,
                 state: str = Query("", max_length=200),
                 code: str = Query("", max_length=4000), error: str = Query("", max_length=200),
                 error_description: str = Query("", max_length=1000)) -> RedirectResponse:
    """Where the identity provider sends the browser back. The state must be the one this
    browser's cookie holds (set by `start`). The attempt is used up first (its own
    transaction: a replayed state finds nothing), the network calls run outside any
    transaction, and the account, its groups and the handoff are saved together."""
    response = _callback(request, settings, origin, state, code, error, error_description)
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
    return response


def _callback(request: Request, settings: Settings, origin: audit.Origin, state: str, code: str, error: str,
              error_description: str) -> RedirectResponse:
    from omnichat.auth import sso, sso_users

    url = settings.resolved_database_url
    bound = request.cookies.get(STATE_COOKIE, "")
    if state and not secrets.compare_digest(bound.encode(), state.encode()):
        return _failed(settings, None, sso.SsoError(
            "This sign-in was not started in this browser (or it has expired): sign in again",
            code="sso_state_invalid", detail="state cookie missing or different"), origin)
    attempt = lite.run(url, lambda db: sso.take_state(db, state)) if state else None
    if attempt is None:
        return _failed(settings, None, sso.SsoError(
            "This sign-in link has expired or was already used: sign in again", code="sso_state_invalid"), origin)
    return_to = attempt.return_to or None
    if error:
        message = ("You cancelled signing in" if error == "access_denied"
                   else "The identity provider refused the sign-in")
        return _failed(settings, return_to, sso.SsoError(message, code="sso_denied",
                                                         detail=f"{error}: {error_description}"), origin)
    if not code:
        return _failed(settings, return_to, sso.SsoError("The identity provider sent no sign-in code",
                                                         code="sso_code_refused"), origin)
    try:
        claims = sso.validate_id_token(settings, sso.exchange_code(settings, code, attempt), attempt.nonce)
        issuer = sso.provider(settings).issuer

        def save(db: lite.Db) -> str:
            known = db.execute("SELECT u.role FROM users u JOIN sso_identities i ON i.user_id = u.id "
                               "WHERE i.issuer = ? AND i.subject = ?", issuer, str(claims["sub"])).fetchone()
            user = sso_users.sign_in(db, settings, issuer, claims)
            actor = origin.acting_as(user.id, user.email)
            if known is not None and known[0] != user.role:  # the admin group claim made or unmade an admin
                audit.record(db, actor, "user.role_changed", target=("user", user.id),
                             details={"email": user.email, "role": {"from": known[0], "to": user.role},
                                      "by": "identity provider"})
            audit.record(db, actor, "auth.sign_in", target=("user", user.id),
                         details={"method": "sso", "issuer": issuer, "role": user.role})
            return sso.handoff(db, user.id)

        handoff = lite.run(url, save)
    except AppError as failure:
        return _failed(settings, return_to, failure, origin)
    return _back(settings, return_to, sso=handoff)


@router.post("/exchange", response_model=SessionOut, responses=error_responses(400))
def sso_exchange(body: ExchangeIn, request: Request, db: SQL, settings: AppSettings) -> SessionOut:
    """A session for the one-time code the callback handed over (valid two minutes, once)."""
    from omnichat.auth import sso

    user_id = sso.take_handoff(db, body.code)
    if user_id is None:
        raise BadRequest("This sign-in code has expired or was already used: sign in again",
                         code="sso_code_invalid")
    user = users.get_user(db, user_id)
    token = users.start_session(db, settings, app_jwt_secret(request.app.state), user)
    return SessionOut(access_token=token, expires_in=settings.access_token_ttl_s, user=UserOut.of(user))

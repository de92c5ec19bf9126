"""/api/auth: sign up, sign in, sign out, who am I, password, preferences, WebSocket tickets."""

from __future__ import annotations

from anyio import from_thread
from fastapi import APIRouter, Request, Response

from omnichat import audit
from omnichat.api.deps import SQL, AppSettings, AuditOrigin, CurrentUser, client_address
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import (
    PasswordChangeIn,
    PreferencesIn,
    PreferencesOut,
    ProfileIn,
    SessionOut,
    SignInIn,
    SignUpIn,
    SignUpOptionsOut,
    SignUpOut,
    TicketOut,
    UserOut,
)
from omnichat.auth import preferences, tickets, users
from omnichat.catalog import catalog
from omnichat.config import app_jwt_secret
from omnichat.errors import Unauthorized

public = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])
account = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])  # pending accounts too
# signed-in sessions, not API keys
session = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])
tickets_router = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])  # approved users


@public.get("/options", response_model=SignUpOptionsOut)
def sign_up_options(db: SQL, settings: AppSettings) -> SignUpOptionsOut:
    return SignUpOptionsOut(**users.sign_up_options(db, settings))


@public.post("/signup", status_code=202, response_model=SignUpOut, responses=error_responses(403, 429))
def sign_up(body: SignUpIn, request: Request, db: SQL, settings: AppSettings, origin: AuditOrigin) -> SignUpOut:
    # The same answer whether the email was new or taken, and no session: the client signs
    # in next, as for any account (docs/security.md, "Sign-up").
    user = users.sign_up(db, settings, body.email, body.password, body.name, client_address(request))
    if user is not None:
        audit.record(db, origin.acting_as(user.id, user.email), "auth.sign_up", target=("user", user.id),
                     details={"role": user.role})
    return SignUpOut()


@public.post("/signin", response_model=SessionOut, responses=error_responses(401, 403, 429))
def sign_in(body: SignInIn, request: Request, db: SQL, settings: AppSettings, origin: AuditOrigin) -> SessionOut:
    try:
        token, user = users.sign_in(db, settings, app_jwt_secret(request.app.state), body.email, body.password,
                                    client_address(request))
    except Unauthorized as refused:
        if refused.code == "invalid_credentials":  # committed: the refusal rolls the request back
            audit.sign_in_failed(db, origin, body.email)
        raise
    audit.record(db, origin.acting_as(user.id, user.email), "auth.sign_in", target=("user", user.id),
                 details={"method": "password"})
    return SessionOut(access_token=token, expires_in=settings.access_token_ttl_s, user=UserOut.of(user))


@session.post("/signout", status_code=204)
def sign_out(principal: CurrentUser, db: SQL, origin: AuditOrigin) -> Response:
    users.sign_out(db, principal)
    audit.record(db, origin, "auth.sign_out", target=("user", principal.user_id))
    return Response(status_code=204)


@account.get("/me", response_model=UserOut)
def me(principal: CurrentUser, db: SQL) -> UserOut:
    return UserOut.of(users.get_user(db, principal.user_id))


@session.patch("/me", response_model=UserOut)
def update_me(body: ProfileIn, principal: CurrentUser, db: SQL) -> UserOut:
    return UserOut.of(users.rename(db, principal, body.name))


@session.post("/password", status_code=204, responses=error_responses(429))
def change_password(body: PasswordChangeIn, principal: CurrentUser, db: SQL, origin: AuditOrigin) -> Response:
    users.change_password(db, principal, body.current_password, body.new_password)
    audit.record(db, origin, "auth.password_changed", target=("user", principal.user_id))
    return Response(status_code=204)


@session.get("/preferences", response_model=PreferencesOut)
def get_preferences(principal: CurrentUser, db: SQL) -> PreferencesOut:
    return PreferencesOut(**preferences.get(db, principal.user_id))


@session.patch("/preferences", response_model=PreferencesOut, responses=error_responses(404))
def update_preferences(body: PreferencesIn, principal: CurrentUser, db: SQL, settings: AppSettings) -> PreferencesOut:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("default_model"):  # a bare name ("smollm2:135m") is kept as its full id
        changes["default_model"] = from_thread.run(catalog.full_id, settings, principal, changes["default_model"])
    return PreferencesOut(**preferences.update(db, principal.user_id, changes))


@tickets_router.post("/ws-ticket", response_model=TicketOut)
def ws_ticket(principal: CurrentUser, db: SQL, settings: AppSettings) -> TicketOut:
    ticket, ttl = tickets.issue(db, settings, principal)
    return TicketOut(ticket=ticket, expires_in=ttl)

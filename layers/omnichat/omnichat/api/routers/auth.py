"""/api/auth: sign up, sign in, sign out, who am I, password, WebSocket tickets."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from omnichat.api.deps import SQL, AppSettings, CurrentUser, client_address
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import (
    PasswordChangeIn,
    SessionOut,
    SignInIn,
    SignUpIn,
    SignUpOptionsOut,
    SignUpOut,
    TicketOut,
    UserOut,
)
from omnichat.auth import tickets, users
from omnichat.config import app_jwt_secret

public = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])
account = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])  # pending accounts too
# signed-in sessions, not API keys
session = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])
tickets_router = APIRouter(route_class=CheckedRoute, prefix="/api/auth", tags=["auth"])  # approved users


@public.get("/options", response_model=SignUpOptionsOut)
def sign_up_options(db: SQL, settings: AppSettings) -> SignUpOptionsOut:
    return SignUpOptionsOut(**users.sign_up_options(db, settings))


@public.post("/signup", status_code=202, response_model=SignUpOut, responses=error_responses(403, 429))
def sign_up(body: SignUpIn, request: Request, db: SQL, settings: AppSettings) -> SignUpOut:
    # The same answer whether the email was new or taken, and no session: the client signs
    # in next, as for any account (docs/security.md, "Sign-up").
    users.sign_up(db, settings, body.email, body.password, body.name, client_address(request))
    return SignUpOut()


@public.post("/signin", response_model=SessionOut, responses=error_responses(401, 403, 429))
def sign_in(body: SignInIn, request: Request, db: SQL, settings: AppSettings) -> SessionOut:
    token, user = users.sign_in(db, settings, app_jwt_secret(request.app.state), body.email, body.password,
                                client_address(request))
    return SessionOut(access_token=token, expires_in=settings.access_token_ttl_s, user=UserOut.of(user))


@session.post("/signout", status_code=204)
def sign_out(principal: CurrentUser, db: SQL) -> Response:
    users.sign_out(db, principal)
    return Response(status_code=204)


@account.get("/me", response_model=UserOut)
def me(principal: CurrentUser, db: SQL) -> UserOut:
    return UserOut.of(users.get_user(db, principal.user_id))


@session.post("/password", status_code=204, responses=error_responses(429))
def change_password(body: PasswordChangeIn, principal: CurrentUser, db: SQL) -> Response:
    users.change_password(db, principal, body.current_password, body.new_password)
    return Response(status_code=204)


@tickets_router.post("/ws-ticket", response_model=TicketOut)
def ws_ticket(principal: CurrentUser, db: SQL, settings: AppSettings) -> TicketOut:
    ticket, ttl = tickets.issue(db, settings, principal)
    return TicketOut(ticket=ticket, expires_in=ttl)

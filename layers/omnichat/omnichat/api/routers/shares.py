"""Share links: a user's read-only links to their chats (`router`), and the page's public
read of one link (`public`: the snapshot only; without signing in unless the admin made links
for accounts only). See chats/shares.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from omnichat.api.deps import SQL, CurrentUser, optional_principal
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import ShareCreated, SharedChatOut, SharedMessageOut, ShareOut
from omnichat.auth.principal import Principal
from omnichat.chats import service, shares

router = APIRouter(route_class=CheckedRoute, tags=["share links"])
public = APIRouter(route_class=CheckedRoute, tags=["share links"])


@router.post("/api/chats/{chat_id}/shares", status_code=201, response_model=ShareCreated,
             responses=error_responses(403))
def create_share(chat_id: str, principal: CurrentUser, db: SQL) -> ShareCreated:
    """A new read-only link to a snapshot of the chat's current branch; the token is shown once."""
    share, token = shares.create(db, principal, service.get_owned(db, principal, chat_id))
    return ShareCreated(**ShareOut.of(share).model_dump(), token=token)


@router.get("/api/chats/{chat_id}/shares", response_model=list[ShareOut])
def list_chat_shares(chat_id: str, principal: CurrentUser, db: SQL) -> list[ShareOut]:
    chat = service.get_owned(db, principal, chat_id)
    return [ShareOut.of(s) for s in shares.list_shares(db, principal, chat.id)]


@router.get("/api/shares", response_model=list[ShareOut])
def list_shares(principal: CurrentUser, db: SQL) -> list[ShareOut]:
    """Your share links, newest first."""
    return [ShareOut.of(s) for s in shares.list_shares(db, principal)]


@router.delete("/api/shares/{share_id}", status_code=204)
def revoke_share(share_id: str, principal: CurrentUser, db: SQL) -> Response:
    """Revoke a link: it answers 404 from now on."""
    shares.revoke(db, principal, share_id)
    return Response(status_code=204)


@public.get("/api/shared/{token}", response_model=SharedChatOut, responses=error_responses(401, 403, 404))
def open_shared(db: SQL, response: Response, reader: Annotated[Principal | None, Depends(optional_principal)],
                token: str = Path(max_length=shares.MAX_TOKEN)) -> SharedChatOut:
    """A shared chat, read-only: without signing in unless the admin made links for accounts
    only (401 `sign_in_required`); 404 when revoked or sharing is off."""
    share = shares.open_link(db, token, reader)
    # Not kept by shared caches: a revoked link must stop showing at once.
    response.headers["cache-control"] = "no-store"
    response.headers["x-robots-tag"] = "noindex"
    messages = [SharedMessageOut(role=m["role"], content=m["content"], model=m["model"], status=m["status"],
                                 created_at=datetime.fromisoformat(m["created_at"]))
                for m in share.snapshot["messages"]]
    return SharedChatOut(title=share.title, shared_at=share.created_at, messages=messages)

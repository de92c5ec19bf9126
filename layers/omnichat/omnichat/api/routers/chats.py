"""/api/chats: chats, their message trees, export and import."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Response

from omnichat.api.deps import SQL, AppSettings, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.schemas import (
    ChatCreateIn,
    ChatDetailOut,
    ChatListOut,
    ChatOut,
    ChatUpdateIn,
    ImportIn,
    MessageEditIn,
    MessageIn,
    MessageOut,
    SwitchBranchIn,
)
from omnichat.chats import service, transfer, tree
from omnichat.chats.rows import ChatRow
from omnichat.errors import BadRequest

router = APIRouter(route_class=CheckedRoute, prefix="/api/chats", tags=["chats"])

Limit = Query(50, ge=1, le=200)


def _check_length(settings: AppSettings, content: str) -> None:
    if len(content) > settings.max_message_chars:
        raise BadRequest(f"A message has at most {settings.max_message_chars} characters",
                         code="message_too_long")


def _detail(db: SQL, chat: ChatRow, before: str | None, limit: int) -> ChatDetailOut:
    page = tree.branch_page(db, chat, before=before, limit=limit)
    return ChatDetailOut(
        chat=ChatOut.of(chat),
        messages=[MessageOut.of(m, page.siblings.get(m.id)) for m in page.messages],
        has_more=page.has_more,
        next_before=page.messages[0].id if page.has_more else None,
    )


@router.get("", response_model=ChatListOut)
def list_chats(principal: CurrentUser, db: SQL, limit: int = Query(30, ge=1, le=100),
               cursor: str | None = Query(None, max_length=512), q: str | None = Query(None, max_length=200),
               archived: bool = False) -> ChatListOut:
    page = service.list_chats(db, principal, limit=limit, cursor=cursor, q=q, archived=archived)
    return ChatListOut(chats=[ChatOut.of(c) for c in page.chats], next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=ChatOut)
def create_chat(body: ChatCreateIn, principal: CurrentUser, db: SQL) -> ChatOut:
    return ChatOut.of(service.create(db, principal, **body.model_dump()))


@router.delete("")
def delete_all_chats(principal: CurrentUser, db: SQL) -> dict[str, int]:
    return {"deleted": service.delete_all(db, principal)}


@router.get("/export")
def export_chats(principal: CurrentUser, db: SQL) -> dict[str, Any]:
    return transfer.export_chats(db, principal)


@router.post("/import", status_code=201)
def import_chats(body: ImportIn, principal: CurrentUser, db: SQL, settings: AppSettings) -> dict[str, Any]:
    deadline = time.monotonic() + settings.import_budget_s
    chats = transfer.import_chats(db, principal, [c.model_dump() for c in body.chats], deadline)
    return {"imported": len(chats), "chat_ids": [c.id for c in chats]}


@router.get("/{chat_id}", response_model=ChatDetailOut)
def get_chat(chat_id: str, principal: CurrentUser, db: SQL, limit: int = Limit,
             before: str | None = Query(None, max_length=36)) -> ChatDetailOut:
    return _detail(db, service.get_owned(db, principal, chat_id), before, limit)


@router.patch("/{chat_id}", response_model=ChatOut)
def update_chat(chat_id: str, body: ChatUpdateIn, principal: CurrentUser, db: SQL) -> ChatOut:
    chat = service.get_owned(db, principal, chat_id)
    return ChatOut.of(service.update_chat(db, chat, body.model_dump(exclude_unset=True)))


@router.delete("/{chat_id}", status_code=204)
def delete_chat(chat_id: str, principal: CurrentUser, db: SQL) -> Response:
    service.delete_chat(db, service.get_owned(db, principal, chat_id))
    return Response(status_code=204)


@router.get("/{chat_id}/messages", response_model=ChatDetailOut)
def list_messages(chat_id: str, principal: CurrentUser, db: SQL, limit: int = Limit,
                  before: str | None = Query(None, max_length=36)) -> ChatDetailOut:
    return _detail(db, service.get_owned(db, principal, chat_id), before, limit)


@router.post("/{chat_id}/messages", response_model=MessageOut,
             responses={201: {"model": MessageOut, "description": "Added"}})
def append_message(chat_id: str, body: MessageIn, response: Response, principal: CurrentUser, db: SQL,
                   settings: AppSettings) -> MessageOut:
    _check_length(settings, body.content)
    chat = service.get_owned(db, principal, chat_id)
    message, created = tree.append(db, chat, role=body.role, content=body.content, parent_id=body.parent_id,
                                   client_message_id=body.client_message_id)
    response.status_code = 201 if created else 200
    return MessageOut.of(message)


@router.post("/{chat_id}/messages/{message_id}/edit", status_code=201, response_model=MessageOut,
             responses={200: {"model": MessageOut, "description": "Already made (the same client_message_id)"}})
def edit_message(chat_id: str, message_id: str, body: MessageEditIn, response: Response,
                 principal: CurrentUser, db: SQL, settings: AppSettings) -> MessageOut:
    _check_length(settings, body.content)
    chat = service.get_owned(db, principal, chat_id)
    message, created = tree.edit(db, chat, message_id, body.content, body.client_message_id)
    response.status_code = 201 if created else 200
    siblings = tree.sibling_ids(db, chat, [message])
    return MessageOut.of(message, siblings.get(message.id))


@router.get("/{chat_id}/messages/{message_id}/siblings", response_model=list[MessageOut])
def list_siblings(chat_id: str, message_id: str, principal: CurrentUser, db: SQL) -> list[MessageOut]:
    chat = service.get_owned(db, principal, chat_id)
    message = tree.get_message(db, chat, message_id)
    ids = tree.sibling_ids(db, chat, [message])[message.id]
    return [MessageOut.of(tree.get_message(db, chat, i), ids) for i in ids]


@router.post("/{chat_id}/switch", response_model=ChatDetailOut)
def switch_branch(chat_id: str, body: SwitchBranchIn, principal: CurrentUser, db: SQL,
                  limit: int = Limit) -> ChatDetailOut:
    chat = service.get_owned(db, principal, chat_id)
    tree.switch_branch(db, chat, body.message_id)
    return _detail(db, chat, None, limit)

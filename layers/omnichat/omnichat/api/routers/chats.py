"""/api/chats: chats, their message trees, export and import."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from anyio import from_thread
from fastapi import APIRouter, Query, Response

from omnichat.api.deps import SQL, AppSettings, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
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
from omnichat.catalog import catalog
from omnichat.chats import attachments, markdown_export, organize, service, transfer, tree
from omnichat.chats.rows import ChatRow
from omnichat.config import Settings
from omnichat.db.lite import Db
from omnichat.documents import files
from omnichat.documents.storage import storage_for
from omnichat.errors import BadRequest

T = TypeVar("T")
router = APIRouter(route_class=CheckedRoute, prefix="/api/chats", tags=["chats"])

Limit = Query(50, ge=1, le=200)


def _check_length(settings: AppSettings, content: str) -> None:
    if len(content) > settings.max_message_chars:
        raise BadRequest(f"A message has at most {settings.max_message_chars} characters",
                         code="message_too_long")


def _named_model(settings: AppSettings, principal: CurrentUser, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with a bare model name ("smollm2:135m") made its full id (sync routes run in
    anyio's worker threads, hence from_thread)."""
    if fields.get("model"):
        fields["model"] = from_thread.run(catalog.full_id, settings, principal, fields["model"])
    return fields


def _out(db: SQL, chat: ChatRow) -> ChatOut:
    return ChatOut.of(chat, organize.labels_of(db, [chat.id])[chat.id])


def _detail(db: SQL, chat: ChatRow, before: str | None, limit: int) -> ChatDetailOut:
    page = tree.branch_page(db, chat, before=before, limit=limit)
    documents = attachments.load(db, [m.id for m in page.messages], reader=chat.user_id)  # the page's, 3 queries
    return ChatDetailOut(
        chat=_out(db, chat),
        messages=[MessageOut.of(m, page.siblings.get(m.id), documents) for m in page.messages],
        has_more=page.has_more,
        next_before=page.messages[0].id if page.has_more else None,
    )


@router.get("", response_model=ChatListOut)
def list_chats(principal: CurrentUser, db: SQL, limit: int = Query(30, ge=1, le=100),
               cursor: str | None = Query(None, max_length=512), q: str | None = Query(None, max_length=200),
               archived: bool = False,
               folder_id: str | None = Query(None, max_length=36, description='a folder\'s id, or "none"'),
               tag: str | None = Query(None, max_length=50)) -> ChatListOut:
    page = service.list_chats(db, principal, limit=limit, cursor=cursor, q=q, archived=archived,
                              folder_id=folder_id, tag=tag)
    labels = organize.labels_of(db, [c.id for c in page.chats])
    return ChatListOut(chats=[ChatOut.of(c, labels[c.id]) for c in page.chats], next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=ChatOut, responses=error_responses(404))  # a bare model name
def create_chat(body: ChatCreateIn, principal: CurrentUser, db: SQL, settings: AppSettings) -> ChatOut:
    return ChatOut.of(service.create(db, principal, **_named_model(settings, principal, body.model_dump())))


def _deleting(db: Db, settings: Settings, chat_ids: list[str], delete: Callable[[], T]) -> T:
    """Delete chats with their attachments: the rows in one transaction, then the stored
    objects (never a row without its object)."""
    gone = files.of_chats(db, chat_ids)
    files.delete_rows(db, gone)
    result = delete()
    db.commit()
    files.drop_objects(storage_for(settings), gone)
    return result


@router.delete("")
def delete_all_chats(principal: CurrentUser, db: SQL, settings: AppSettings) -> dict[str, int]:
    ids = [row[0] for row in db.execute("SELECT id FROM chats WHERE user_id = ?", principal.user_id).fetchall()]
    return {"deleted": _deleting(db, settings, ids, lambda: service.delete_all(db, principal))}


@router.get("/export", responses={200: {"content": {"text/markdown": {}}}, **error_responses(404)})
def export_chats(principal: CurrentUser, db: SQL, chat_id: str | None = Query(None, max_length=36),
                 format: Literal["json", "markdown"] = "json") -> Any:
    """All your chats, or one (`chat_id`): JSON to import again, or Markdown to read."""
    export = transfer.export_chats(db, principal, chat_id)
    if format == "markdown":
        return Response(markdown_export.export_markdown(export), media_type="text/markdown; charset=utf-8")
    return export


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
def update_chat(chat_id: str, body: ChatUpdateIn, principal: CurrentUser, db: SQL, settings: AppSettings) -> ChatOut:
    chat = service.get_owned(db, principal, chat_id)
    changes = _named_model(settings, principal, body.model_dump(exclude_unset=True))
    return _out(db, service.update_chat(db, chat, changes))


@router.delete("/{chat_id}", status_code=204)
def delete_chat(chat_id: str, principal: CurrentUser, db: SQL, settings: AppSettings) -> Response:
    chat = service.get_owned(db, principal, chat_id)
    _deleting(db, settings, [chat.id], lambda: service.delete_chat(db, chat))
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
    if created:  # the new text asks over the same documents (as chat.edit)
        attachments.copy(db, message_id, message.id)
    response.status_code = 201 if created else 200
    siblings = tree.sibling_ids(db, chat, [message])
    return MessageOut.of(message, siblings.get(message.id), attachments.load(db, [message.id], reader=chat.user_id))


@router.get("/{chat_id}/messages/{message_id}/siblings", response_model=list[MessageOut])
def list_siblings(chat_id: str, message_id: str, principal: CurrentUser, db: SQL) -> list[MessageOut]:
    chat = service.get_owned(db, principal, chat_id)
    message = tree.get_message(db, chat, message_id)
    ids = tree.sibling_ids(db, chat, [message])[message.id]
    documents = attachments.load(db, ids, reader=chat.user_id)
    return [MessageOut.of(tree.get_message(db, chat, i), ids, documents) for i in ids]


@router.post("/{chat_id}/switch", response_model=ChatDetailOut)
def switch_branch(chat_id: str, body: SwitchBranchIn, principal: CurrentUser, db: SQL,
                  limit: int = Limit) -> ChatDetailOut:
    chat = service.get_owned(db, principal, chat_id)
    tree.switch_branch(db, chat, body.message_id)
    return _detail(db, chat, None, limit)

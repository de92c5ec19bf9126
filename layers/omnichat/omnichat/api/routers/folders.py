"""/api/folders, /api/tags and moving chats: how a user organizes their chats (see
chats/organize.py)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from omnichat.api.deps import SQL, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import FolderIn, FolderOut, MoveIn, TagOut
from omnichat.chats import organize, service

router = APIRouter(route_class=CheckedRoute, tags=["folders and tags"])

Tag = Path(max_length=organize.MAX_TAG)


def _out(folder: organize.FolderRow, count: int = 0) -> FolderOut:
    return FolderOut(id=folder.id, name=folder.name, chat_count=count, created_at=folder.created_at)


@router.get("/api/folders", response_model=list[FolderOut])
def list_folders(principal: CurrentUser, db: SQL) -> list[FolderOut]:
    """Your folders by name, with how many chats each holds."""
    return [_out(f, n) for f, n in organize.list_folders(db, principal)]


@router.post("/api/folders", status_code=201, response_model=FolderOut, responses=error_responses(409))
def create_folder(body: FolderIn, principal: CurrentUser, db: SQL) -> FolderOut:
    return _out(organize.create_folder(db, principal, body.name))


@router.patch("/api/folders/{folder_id}", response_model=FolderOut, responses=error_responses(409))
def rename_folder(folder_id: str, body: FolderIn, principal: CurrentUser, db: SQL) -> FolderOut:
    folder = organize.rename_folder(db, principal, folder_id, body.name)
    return next((_out(f, n) for f, n in organize.list_folders(db, principal) if f.id == folder.id), _out(folder))


@router.delete("/api/folders/{folder_id}", status_code=204)
def delete_folder(folder_id: str, principal: CurrentUser, db: SQL) -> Response:
    """Delete a folder; its chats stay, in no folder."""
    organize.delete_folder(db, principal, folder_id)
    return Response(status_code=204)


@router.post("/api/chats/move", responses=error_responses(404))
def move_chats(body: MoveIn, principal: CurrentUser, db: SQL) -> dict[str, int]:
    """Put chats in a folder (`folder_id: null`: in none); all or nothing."""
    return {"moved": organize.move(db, principal, body.chat_ids, body.folder_id)}


@router.get("/api/tags", response_model=list[TagOut])
def list_tags(principal: CurrentUser, db: SQL) -> list[TagOut]:
    """Your tags, with how many chats have each."""
    return [TagOut(tag=t, chat_count=n) for t, n in organize.list_tags(db, principal)]


@router.put("/api/chats/{chat_id}/tags/{tag}", responses=error_responses(404))
def add_tag(chat_id: str, principal: CurrentUser, db: SQL, tag: str = Tag) -> dict[str, list[str]]:
    """Tag a chat (lower-cased); answers the chat's tags."""
    chat = service.get_owned(db, principal, chat_id)
    return {"tags": organize.add_tag(db, chat.id, tag)}


@router.delete("/api/chats/{chat_id}/tags/{tag}", responses=error_responses(404))
def remove_tag(chat_id: str, principal: CurrentUser, db: SQL, tag: str = Tag) -> dict[str, list[str]]:
    chat = service.get_owned(db, principal, chat_id)
    return {"tags": organize.remove_tag(db, chat.id, tag)}

"""Export and import of a user's chats as JSON. Import never trusts ids from the file:
every chat and message gets a new id, parents are remapped, and the tree is checked."""

from __future__ import annotations

import time
from typing import Any

from omnichat.auth.principal import Principal
from omnichat.chats import attachments, organize, service
from omnichat.chats.params import checked as checked_params
from omnichat.chats.rows import ChatRow, MessageRow
from omnichat.db.lite import Db, utcnow
from omnichat.errors import BadRequest, PayloadTooLarge
from omnichat.ids import new_id

FORMAT = "omnichat.chats"
VERSION = 1
MAX_IMPORT_MESSAGES = 200_000
_FINAL_STATUSES = ("complete", "stopped", "error")
_BATCH = 5_000  # messages written between two looks at the deadline


def _message_json(m: MessageRow, documents: attachments.Documents) -> dict[str, Any]:
    """A message as exported; its attachments (metadata, not the files) and sources too.
    An import ignores both: the files are not in the export (another account may import it)."""
    out: dict[str, Any] = {
        "id": m.id, "parent_id": m.parent_id, "role": m.role, "content": m.content,
        "reasoning": m.reasoning, "model": m.model, "status": m.status, "usage": m.usage,
        "created_at": m.created_at.isoformat(),
    }
    if m.id in documents.attachments:
        out["attachments"] = [a.json() for a in documents.attachments[m.id]]
    if m.id in documents.sources:
        out["sources"] = [s.json() for s in documents.sources[m.id]]
    return out


def export_chats(db: Db, principal: Principal, chat_id: str | None = None) -> dict[str, Any]:
    """All the principal's chats, or the one `chat_id` names (NotFound unless it is theirs)."""
    chats = ([service.get_owned(db, principal, chat_id)] if chat_id is not None
             else ChatRow.select(db, "WHERE user_id = ? ORDER BY id", principal.user_id))
    out = []
    labels = organize.labels_of(db, [c.id for c in chats])
    folders = {f.id: f.name for f, _ in organize.list_folders(db, principal)}
    for chat in chats:
        messages = MessageRow.select(db, "WHERE chat_id = ? ORDER BY depth, id", chat.id)
        documents = attachments.load_chat(db, chat.id)
        folder_id = labels[chat.id].folder_id
        out.append({
            "id": chat.id, "title": chat.title, "pinned": chat.pinned, "archived": chat.archived,
            "folder": folders.get(folder_id) if folder_id else None, "tags": labels[chat.id].tags,
            "model": chat.model, "system_prompt": chat.system_prompt, "params": chat.params,
            "current_leaf_id": chat.current_leaf_id, "created_at": chat.created_at.isoformat(),
            "updated_at": chat.updated_at.isoformat(), "messages": [_message_json(m, documents) for m in messages],
        })
    return {"format": FORMAT, "version": VERSION, "exported_at": utcnow().isoformat(), "chats": out}


def _ordered(chat_index: int, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with every parent before its children; rejects dangling parents and cycles.
    Linear time: each message joins one walk up its ancestors, and a walk stops at the
    first message whose depth is known (in any order of listing, leaf-first included)."""
    by_id = {m["id"]: m for m in messages}
    if len(by_id) != len(messages):
        raise BadRequest(f"chats[{chat_index}] has duplicate message ids", code="invalid_import")
    depth: dict[str, int] = {}
    for m in messages:
        chain: list[str] = []
        on_chain: set[str] = set()
        mid = m["id"]
        while mid not in depth:
            parent = by_id[mid]["parent_id"]
            if parent is None:
                depth[mid] = 0
                break
            if parent not in by_id:
                raise BadRequest(f"chats[{chat_index}]: message {mid} has an unknown parent",
                                 code="invalid_import")
            if mid in on_chain:
                raise BadRequest(f"chats[{chat_index}] has a cycle in its messages", code="invalid_import")
            chain.append(mid)
            on_chain.add(mid)
            mid = parent
        for child in reversed(chain):
            depth[child] = depth[by_id[child]["parent_id"]] + 1
    return sorted(messages, key=lambda m: depth[m["id"]])


def _checked_params(index: int, params: Any) -> dict[str, Any] | None:
    try:
        return checked_params(params, f"chats[{index}].params") if params is not None else None
    except BadRequest as fault:
        raise BadRequest(fault.message, code="invalid_import") from None


def import_chats(db: Db, principal: Principal, chats: list[dict[str, Any]],
                 deadline: float | None = None) -> list[ChatRow]:
    """`chats` is the validated `chats` list of an export (see api/schemas.py). All or
    nothing: the whole file is checked before the first write, and an import still running
    at `deadline` (time.monotonic()) is refused, its transaction rolled back, rather than
    committed after the client was told it timed out."""
    total = sum(len(c["messages"]) for c in chats)
    if total > MAX_IMPORT_MESSAGES:
        raise BadRequest(f"An import holds at most {MAX_IMPORT_MESSAGES} messages", code="import_too_large")
    checked = [(data, _ordered(index, data["messages"]), _checked_params(index, data.get("params")))
               for index, data in enumerate(chats)]
    labels = [_checked_labels(index, data) for index, data in enumerate(chats)]
    folders: dict[str, str] = {}  # name -> id, found or made once
    created = []
    for (data, ordered, params), (folder, tags) in zip(checked, labels, strict=True):
        _in_time(deadline)
        chat = service.create(db, principal, title=data.get("title") or "Imported chat",
                              model=data.get("model"), system_prompt=data.get("system_prompt"),
                              params=params, pinned=bool(data.get("pinned")),
                              archived=bool(data.get("archived")))
        new_ids: dict[str, str] = {}
        depths: dict[str, int] = {}
        now = utcnow()
        rows = []
        for m in ordered:
            nid = new_ids[m["id"]] = new_id()
            parent = new_ids.get(m["parent_id"]) if m["parent_id"] else None
            depths[nid] = depths[parent] + 1 if parent else 0
            status: str = m["status"] if m.get("status") in _FINAL_STATUSES else "stopped"
            rows.append(vars(MessageRow(
                id=nid, chat_id=chat.id, parent_id=parent, depth=depths[nid], role=m["role"], content=m["content"],
                reasoning=m.get("reasoning"), model=m.get("model"), status=status, error=None, usage=m.get("usage"),
                client_message_id=None, created_at=now, updated_at=now)))
        for start in range(0, len(rows), _BATCH):
            _in_time(deadline)
            db.insert_json_rows("messages", rows[start:start + _BATCH])
        leaf = new_ids.get(data.get("current_leaf_id") or "") or (rows[-1]["id"] if rows else None)
        db.execute("UPDATE chats SET current_leaf_id = ?, message_count = ? WHERE id = ?", leaf, len(rows), chat.id)
        chat.current_leaf_id, chat.message_count = leaf, len(rows)
        if folder is not None:
            if folder not in folders:
                found = organize.folder_by_name(db, principal, folder)
                folders[folder] = found.id if found else organize.create_folder(db, principal, folder).id
            organize.move(db, principal, [chat.id], folders[folder])
        organize.set_tags(db, chat.id, tags)
        created.append(chat)
    return created


def _checked_labels(index: int, data: dict[str, Any]) -> tuple[str | None, list[str]]:
    """A chat's folder name and tags, cleaned before anything is written."""
    try:
        folder = organize.clean_name(data["folder"]) if data.get("folder") else None
        return folder, sorted({organize.clean_tag(t) for t in data.get("tags") or []})
    except BadRequest as fault:
        raise BadRequest(f"chats[{index}]: {fault.message}", code="invalid_import") from None


def _in_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise PayloadTooLarge("The import could not finish in time: nothing was imported. Split the file "
                              "into smaller ones.", code="import_too_large")

"""The message tree of a chat. Each message points at its parent; the chat points at the
leaf of the branch in view. Every operation here touches a bounded number of rows, so a
chat of 10,000 messages costs the same as one of 10: appending is an insert and an
update, a page of the branch is a recursive walk of `limit` steps up from a message.

Plain SQL over `omnichat.db.lite` (see chats/rows.py)."""

from __future__ import annotations

from dataclasses import dataclass

from omnichat.chats.rows import ChatRow, MessageRow
from omnichat.chats.rows import get_message as _get
from omnichat.db.lite import Db, utcnow
from omnichat.errors import BadRequest, NotFound
from omnichat.ids import new_id

ROLES = ("user", "assistant", "system")


@dataclass
class BranchPage:
    messages: list[MessageRow]  # oldest first
    has_more: bool  # older messages exist above the first one
    siblings: dict[str, list[str]]  # message id -> ids of it and its siblings, oldest first


def get_message(db: Db, chat: ChatRow, message_id: str) -> MessageRow:
    message = _get(db, message_id)
    if message is None or message.chat_id != chat.id:
        raise NotFound("No such message in this chat", code="message_not_found")
    return message


def find_by_client_id(db: Db, chat: ChatRow, client_message_id: str) -> MessageRow | None:
    return MessageRow.first(db, "WHERE chat_id = ? AND client_message_id = ?", chat.id, client_message_id)


def append(
    db: Db,
    chat: ChatRow,
    *,
    role: str,
    content: str,
    parent_id: str | None = None,
    use_leaf: bool = True,
    client_message_id: str | None = None,
    model: str | None = None,
    status: str = "complete",
) -> tuple[MessageRow, bool]:
    """Add a message under `parent_id` (by default the current leaf) and make it the leaf.
    Idempotent on `client_message_id`: a retried send returns the first message and
    `created=False`."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    if client_message_id:
        existing = find_by_client_id(db, chat, client_message_id)
        if existing is not None:
            return existing, False
    if parent_id is None and use_leaf:
        parent_id = chat.current_leaf_id
    depth = 0
    if parent_id is not None:
        depth = get_message(db, chat, parent_id).depth + 1
    now = utcnow()
    message = MessageRow(id=new_id(), chat_id=chat.id, parent_id=parent_id, depth=depth, role=role, content=content,
                         reasoning=None, model=model, status=status, error=None, usage=None,
                         client_message_id=client_message_id, created_at=now, updated_at=now)
    # A concurrent retry of the same send may have won the race: the unique
    # (chat_id, client_message_id) makes this insert a no-op, and the winner is returned.
    inserted = message.insert(db, "ON CONFLICT (chat_id, client_message_id) DO NOTHING").rowcount
    if inserted != 1:
        existing = find_by_client_id(db, chat, client_message_id) if client_message_id else None
        if existing is None:
            raise RuntimeError("a message insert changed no row")
        return existing, False
    _set_leaf(db, chat, message.id, added=1)
    return message, True


def _set_leaf(db: Db, chat: ChatRow, leaf_id: str, added: int = 0) -> None:
    # A single UPDATE (the count is incremented in SQL, so concurrent appends add up);
    # `chat` is kept in step with it.
    now = utcnow()
    db.execute("UPDATE chats SET current_leaf_id = ?, updated_at = ?, message_count = message_count + ? WHERE id = ?",
               leaf_id, now, added, chat.id)
    chat.current_leaf_id, chat.updated_at, chat.message_count = leaf_id, now, chat.message_count + added


def edit(db: Db, chat: ChatRow, message_id: str, content: str,
         client_message_id: str | None = None) -> tuple[MessageRow, bool]:
    """Editing never rewrites history: the new text becomes a sibling branch."""
    original = get_message(db, chat, message_id)
    if original.role != "user":
        raise BadRequest("Only user messages can be edited", code="not_editable")
    return append(db, chat, role="user", content=content, parent_id=original.parent_id,
                  use_leaf=False, client_message_id=client_message_id)


def branch_page(db: Db, chat: ChatRow, *, before: str | None = None, limit: int = 50) -> BranchPage:
    """Up to `limit` messages of the current branch ending just above `before` (or at the
    leaf), oldest first."""
    if before is not None:
        start = get_message(db, chat, before).parent_id
    else:
        start = chat.current_leaf_id
    if start is None:
        return BranchPage([], False, {})
    # Recursive walk up the parent pointers, stopped after `limit` steps.
    rows = db.execute(
        "WITH RECURSIVE walk (id, parent_id, n) AS ("
        " SELECT id, parent_id, 1 FROM messages WHERE id = ? AND chat_id = ?"
        " UNION ALL"
        " SELECT m.id, m.parent_id, walk.n + 1 FROM messages m JOIN walk ON m.id = walk.parent_id WHERE walk.n < ?)"
        f" SELECT {MessageRow.columns('m')} FROM messages m JOIN walk ON m.id = walk.id ORDER BY m.depth",
        start, chat.id, limit).fetchall()
    messages = [MessageRow.read(r) for r in rows]
    has_more = bool(messages) and messages[0].parent_id is not None
    return BranchPage(messages, has_more, sibling_ids(db, chat, messages))


def sibling_ids(db: Db, chat: ChatRow, messages: list[MessageRow]) -> dict[str, list[str]]:
    """For each message, its own id and its siblings' (same parent), oldest first."""
    if not messages:
        return {}
    parents = sorted({m.parent_id for m in messages if m.parent_id is not None})
    conditions = [f"parent_id IN ({', '.join('?' * len(parents))})"] if parents else []
    if any(m.parent_id is None for m in messages):
        conditions.append("parent_id IS NULL")
    rows = db.execute(f"SELECT id, parent_id FROM messages WHERE chat_id = ? AND ({' OR '.join(conditions)})"
                      " ORDER BY id", chat.id, *parents).fetchall()
    by_parent: dict[str | None, list[str]] = {}
    for mid, pid in rows:
        by_parent.setdefault(pid, []).append(mid)
    return {m.id: by_parent.get(m.parent_id, [m.id]) for m in messages}


def latest_leaf_below(db: Db, chat: ChatRow, message_id: str) -> str:
    """The leaf reached from `message_id` by always following the newest child: the
    branch the user last worked on below that message."""
    row = db.execute(
        "WITH RECURSIVE down (id, n) AS ("
        " SELECT id, 0 FROM messages WHERE id = ?"
        " UNION ALL"
        " SELECT c.id, down.n + 1 FROM messages c JOIN down ON c.parent_id = down.id"
        " WHERE c.chat_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM messages newer WHERE newer.parent_id = down.id AND newer.id > c.id))"
        " SELECT id FROM down ORDER BY n DESC LIMIT 1", message_id, chat.id).fetchone()
    return row[0] if row else message_id


def switch_branch(db: Db, chat: ChatRow, message_id: str) -> str:
    get_message(db, chat, message_id)
    leaf = latest_leaf_below(db, chat, message_id)
    _set_leaf(db, chat, leaf)
    return leaf

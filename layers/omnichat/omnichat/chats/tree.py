"""The message tree of a chat. Each message points at its parent; the chat points at the
leaf of the branch in view. Every operation here touches a bounded number of rows, so a
chat of 10,000 messages costs the same as one of 10: appending is an insert and an
update, a page of the branch is a recursive walk of `limit` steps up from a message."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from omnichat.db.models import Chat, Message, utcnow
from omnichat.errors import BadRequest, NotFound

ROLES = ("user", "assistant", "system")


@dataclass
class BranchPage:
    messages: list[Message]  # oldest first
    has_more: bool  # older messages exist above the first one
    siblings: dict[str, list[str]]  # message id -> ids of it and its siblings, oldest first


def get_message(db: Session, chat: Chat, message_id: str) -> Message:
    message = db.get(Message, message_id)
    if message is None or message.chat_id != chat.id:
        raise NotFound("No such message in this chat", code="message_not_found")
    return message


def find_by_client_id(db: Session, chat: Chat, client_message_id: str) -> Message | None:
    return db.scalar(select(Message).where(Message.chat_id == chat.id,
                                           Message.client_message_id == client_message_id))


def append(
    db: Session,
    chat: Chat,
    *,
    role: str,
    content: str,
    parent_id: str | None = None,
    use_leaf: bool = True,
    client_message_id: str | None = None,
    model: str | None = None,
    status: str = "complete",
) -> tuple[Message, bool]:
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
    message = Message(chat_id=chat.id, parent_id=parent_id, depth=depth, role=role, content=content,
                      model=model, status=status, client_message_id=client_message_id)
    try:
        with db.begin_nested():
            db.add(message)
            db.flush()
    except IntegrityError:  # a concurrent retry of the same send won the race
        if client_message_id:
            existing = find_by_client_id(db, chat, client_message_id)
            if existing is not None:
                return existing, False
        raise
    _set_leaf(db, chat, message.id, added=1)
    return message, True


def _set_leaf(db: Session, chat: Chat, leaf_id: str, added: int = 0) -> None:
    # A single UPDATE (the count is incremented in SQL, so concurrent appends add up);
    # the session synchronises the loaded `chat` object with it.
    db.execute(update(Chat).where(Chat.id == chat.id).values(
        current_leaf_id=leaf_id, updated_at=utcnow(), message_count=Chat.message_count + added))


def edit(db: Session, chat: Chat, message_id: str, content: str,
         client_message_id: str | None = None) -> tuple[Message, bool]:
    """Editing never rewrites history: the new text becomes a sibling branch."""
    original = get_message(db, chat, message_id)
    if original.role != "user":
        raise BadRequest("Only user messages can be edited", code="not_editable")
    return append(db, chat, role="user", content=content, parent_id=original.parent_id,
                  use_leaf=False, client_message_id=client_message_id)


def branch_page(db: Session, chat: Chat, *, before: str | None = None, limit: int = 50) -> BranchPage:
    """Up to `limit` messages of the current branch ending just above `before` (or at the
    leaf), oldest first."""
    if before is not None:
        start = get_message(db, chat, before).parent_id
    else:
        start = chat.current_leaf_id
    if start is None:
        return BranchPage([], False, {})
    # Recursive walk up the parent pointers, stopped after `limit` steps.
    walk = (
        select(Message.id, Message.parent_id, literal(1).label("n"))
        .where(Message.id == start, Message.chat_id == chat.id)
        .cte("walk", recursive=True)
    )
    parent = aliased(Message)
    walk = walk.union_all(
        select(parent.id, parent.parent_id, walk.c.n + 1)
        .join(walk, parent.id == walk.c.parent_id)
        .where(walk.c.n < limit)
    )
    messages = list(db.scalars(select(Message).join(walk, Message.id == walk.c.id).order_by(Message.depth)))
    has_more = bool(messages) and messages[0].parent_id is not None
    return BranchPage(messages, has_more, sibling_ids(db, chat, messages))


def sibling_ids(db: Session, chat: Chat, messages: list[Message]) -> dict[str, list[str]]:
    """For each message, its own id and its siblings' (same parent), oldest first."""
    if not messages:
        return {}
    parents = {m.parent_id for m in messages if m.parent_id is not None}
    conditions = [Message.parent_id.in_(parents)] if parents else []
    if any(m.parent_id is None for m in messages):
        conditions.append(Message.parent_id.is_(None))
    rows = db.execute(
        select(Message.id, Message.parent_id)
        .where(Message.chat_id == chat.id, or_(*conditions))
        .order_by(Message.id)
    ).all()
    by_parent: dict[str | None, list[str]] = {}
    for mid, pid in rows:
        by_parent.setdefault(pid, []).append(mid)
    return {m.id: by_parent.get(m.parent_id, [m.id]) for m in messages}


def latest_leaf_below(db: Session, chat: Chat, message_id: str) -> str:
    """The leaf reached from `message_id` by always following the newest child: the
    branch the user last worked on below that message."""
    child = aliased(Message)
    newer = aliased(Message)
    down = select(literal(message_id).label("id"), literal(0).label("n")).cte("down", recursive=True)
    down = down.union_all(
        select(child.id, down.c.n + 1)
        .join(down, child.parent_id == down.c.id)
        .where(
            child.chat_id == chat.id,
            ~select(newer.id).where(and_(newer.parent_id == down.c.id, newer.id > child.id)).exists(),
        )
    )
    leaf = db.scalar(select(down.c.id).order_by(down.c.n.desc()).limit(1))
    return leaf or message_id


def switch_branch(db: Session, chat: Chat, message_id: str) -> str:
    get_message(db, chat, message_id)
    leaf = latest_leaf_below(db, chat, message_id)
    _set_leaf(db, chat, leaf)
    return leaf

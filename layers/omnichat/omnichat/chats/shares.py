"""Read-only share links of chats (docs/frontend.md, "Share links").

A link is a snapshot: the chat's current branch (user and assistant messages, no system
prompt, no ids) and title, copied when the link is made, so later edits, branches and
deletions of messages do not reach people who hold the link. The token is shown once;
only its SHA-256 is stored. Links work only while the platform setting `sharing_enabled`
is on (off by default: an admin decides that chats may leave the server); while it is
off, existing links answer 404 and new ones are refused. Whether a link opens without signing
in is the platform setting `share_links_public` (on by default once sharing is on; off: only
approved accounts of this server read shared chats). Plain SQL over `omnichat.db.lite`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichat import settings_store
from omnichat.auth import policies
from omnichat.auth.opaque import hash_secret, new_secret
from omnichat.auth.principal import Principal
from omnichat.chats import tree
from omnichat.chats.rows import ChatRow
from omnichat.db.lite import Db, Record, utcnow
from omnichat.errors import BadRequest, Forbidden, NotFound, Unauthorized
from omnichat.ids import new_id

SETTING = "sharing_enabled"
PUBLIC_SETTING = "share_links_public"
MAX_SHARES_PER_USER = 200
MAX_SHARED_MESSAGES = 1000
MAX_TOKEN = 100  # longer is no token of ours: not looked up
SHOWN_ROLES = ("user", "assistant")


@dataclass
class ShareRow(Record):
    TABLE = "chat_shares"
    JSON = ("snapshot",)
    TIMESTAMPS = ("created_at",)

    id: str
    chat_id: str
    user_id: str
    token_hash: str
    prefix: str  # shown in listings to recognise a link
    title: str
    message_count: int
    snapshot: dict[str, Any]
    created_at: datetime


def enabled(db: Db) -> bool:
    return bool(settings_store.get_value(db, SETTING, False))


def set_enabled(db: Db, value: bool) -> None:
    settings_store.set_value(db, SETTING, value)


def public(db: Db) -> bool:
    """Whether links open without signing in."""
    return bool(settings_store.get_value(db, PUBLIC_SETTING, True))


def set_public(db: Db, value: bool) -> None:
    settings_store.set_value(db, PUBLIC_SETTING, value)


def _snapshot(db: Db, chat: ChatRow) -> list[dict[str, Any]]:
    page = tree.branch_page(db, chat, limit=MAX_SHARED_MESSAGES)
    if page.has_more:
        raise BadRequest(f"Only chats of at most {MAX_SHARED_MESSAGES} messages can be shared",
                         code="chat_too_long_to_share")
    return [{"role": m.role, "content": m.content, "model": m.model, "status": m.status,
             "created_at": m.created_at.isoformat()} for m in page.messages if m.role in SHOWN_ROLES]


def create(db: Db, principal: Principal, chat: ChatRow) -> tuple[ShareRow, str]:
    """A new link to `chat` (owned by `principal`: the caller checked) and its token."""
    if not enabled(db):
        raise Forbidden("Sharing chats is turned off on this server", code="sharing_disabled")
    count = db.execute("SELECT COUNT(*) FROM chat_shares WHERE user_id = ?", principal.user_id).fetchone()[0]
    if count >= MAX_SHARES_PER_USER:
        raise BadRequest(f"At most {MAX_SHARES_PER_USER} share links per user", code="too_many_shares")
    messages = _snapshot(db, chat)
    token = new_secret("")
    share = ShareRow(id=new_id(), chat_id=chat.id, user_id=principal.user_id, token_hash=hash_secret(token),
                     prefix=token[:6], title=chat.title, message_count=len(messages),
                     snapshot={"messages": messages}, created_at=utcnow())
    share.insert(db)
    return share, token


def list_shares(db: Db, principal: Principal, chat_id: str | None = None) -> list[ShareRow]:
    if chat_id is not None:
        return ShareRow.select(db, "WHERE user_id = ? AND chat_id = ? ORDER BY id DESC", principal.user_id, chat_id)
    return ShareRow.select(db, "WHERE user_id = ? ORDER BY id DESC", principal.user_id)


def revoke(db: Db, principal: Principal, share_id: str) -> None:
    # Another user's link answers exactly like a missing one: ids are not an oracle.
    if db.execute("DELETE FROM chat_shares WHERE id = ? AND user_id = ?", share_id, principal.user_id).rowcount != 1:
        raise NotFound("No such share link", code="share_not_found")


def open_link(db: Db, token: str, reader: Principal | None) -> ShareRow:
    """The snapshot behind `token`; a revoked, unknown or switched-off link is not found.
    When links are not public, a reader who is not an approved account is told to sign in
    first (before the link is looked up: that answer says nothing about the link)."""
    if not public(db):
        if reader is None:
            raise Unauthorized("Sign in to read this shared chat", code="sign_in_required")
        policies.active(reader)  # 403 for an account still waiting for approval
    share = ShareRow.first(db, "WHERE token_hash = ?", hash_secret(token)) if len(token) <= MAX_TOKEN else None
    if share is None or not enabled(db):
        raise NotFound("No such shared chat", code="share_not_found")
    return share

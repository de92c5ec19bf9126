"""What the model sees: the system prompt (a preset's, then the chat's) and the branch that ends at the message
being answered, newest first until a size budget is spent (older turns are dropped, never
the question itself)."""

from __future__ import annotations

from typing import Any

from omnichat.chats import tree
from omnichat.chats.params import usable
from omnichat.chats.rows import ChatRow, MessageRow
from omnichat.db.lite import Db
from omnichat.providers.types import ChatRequest
from omnichat.providers.types import Message as Turn

DEFAULT_CONTEXT_CHARS = 24_000
MAX_TURNS = 200
MAX_DOCUMENT_CHARS = 12_000  # a question's sources (documents/retrieval.py): at most half the budget


def documents_share(context_chars: int) -> int:
    """The part of the context budget a question with documents gives its sources."""
    return min(MAX_DOCUMENT_CHARS, context_chars // 2)


def history(db: Db, chat: ChatRow, last: MessageRow, budget_chars: int = DEFAULT_CONTEXT_CHARS) -> list[Turn]:
    messages = _branch_to(db, chat, last)
    turns: list[Turn] = []
    used = 0
    for m in reversed(messages):
        if m.role not in ("user", "assistant") or not m.content or (m.role == "assistant" and m.status == "error"):
            continue
        if turns and used + len(m.content) > budget_chars:
            break
        used += len(m.content)
        turns.append(Turn.text(m.role, m.content))  # type: ignore[arg-type]
    turns.reverse()
    while turns and turns[0].role != "user":  # a conversation opens with the user
        turns.pop(0)
    return turns


def _branch_to(db: Db, chat: ChatRow, last: MessageRow) -> list[MessageRow]:
    """The branch ending at `last` (which may not be the chat's leaf)."""
    older = tree.branch_page(db, chat, before=last.id, limit=MAX_TURNS - 1).messages
    return [*older, last]


def context_chars(chat: ChatRow, params: dict[str, Any], defaults: dict[str, Any] | None = None) -> int:
    return int({**usable(defaults), **usable(chat.params), **params}.get("context_chars", DEFAULT_CONTEXT_CHARS))


def build_request(db: Db, chat: ChatRow, last: MessageRow, model_name: str, params: dict[str, Any],
                  defaults: dict[str, Any] | None = None, model_system: str | None = None,
                  documents_chars: int = 0) -> ChatRequest:
    """`model_system`: a preset's system prompt. It comes first and the chat's own follows,
    so a chat can add to what the preset sets up but the preset's role stays.
    `documents_chars`: the share of the budget kept for the question's sources (added
    before the question once retrieved: documents/retrieval.py); the history gets the rest."""
    # Stored values are re-checked: one saved before today's rules cannot reach a provider.
    merged = {**usable(defaults), **usable(chat.params), **params}
    budget = int(merged.get("context_chars", DEFAULT_CONTEXT_CHARS))
    return ChatRequest(
        model=model_name,
        messages=tuple(history(db, chat, last, max(0, budget - documents_chars))),
        system="\n\n".join(p for p in (model_system, chat.system_prompt) if p) or None,
        temperature=merged.get("temperature"),
        top_p=merged.get("top_p"),
        max_tokens=merged.get("max_tokens"),
    )

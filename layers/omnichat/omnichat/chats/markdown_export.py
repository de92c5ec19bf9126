"""Chats as Markdown, for people to read (the JSON export is the one to import): each chat's
current branch, from its first message to its current leaf."""

from __future__ import annotations

from typing import Any

ROLES = {"user": "You", "assistant": "Assistant", "system": "System"}


def current_branch(chat: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages from the root to the chat's current leaf (its last message if none)."""
    by_id = {m["id"]: m for m in chat["messages"]}
    leaf = chat.get("current_leaf_id") or (chat["messages"][-1]["id"] if chat["messages"] else None)
    branch: list[dict[str, Any]] = []
    while leaf is not None and leaf in by_id and len(branch) <= len(by_id):  # the bound: no endless loop
        branch.append(by_id[leaf])
        leaf = by_id[leaf]["parent_id"]
    return branch[::-1]


def chat_markdown(chat: dict[str, Any]) -> str:
    lines = [f"# {chat['title']}", ""]
    facts = [f"Model: {chat['model']}" if chat.get("model") else "", f"Started: {chat['created_at'][:16]}"]
    lines += [" · ".join(f for f in facts if f), ""]
    if chat.get("system_prompt"):
        lines += ["## System prompt", "", chat["system_prompt"], ""]
    for m in current_branch(chat):
        who = ROLES.get(m["role"], m["role"])
        if m["role"] == "assistant" and m.get("model"):
            who += f" ({m['model']})"
        lines += [f"## {who}", "", m["content"], ""]
        if m.get("status") in ("stopped", "error"):
            lines += [f"_({m['status']})_", ""]
    return "\n".join(lines)


def export_markdown(export: dict[str, Any]) -> str:
    """An export (transfer.export_chats) as one Markdown document, chats apart by rules."""
    return "\n---\n\n".join(chat_markdown(c) for c in export["chats"]) or "_No chats._\n"

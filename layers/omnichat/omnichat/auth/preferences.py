"""A person's own settings for the page (default model, theme, send on Enter, the system
prompt new chats start with, the avatar), kept in the settings table under `preferences:<user id>`:
a small document read and written whole, so it needs no table of its own."""

from __future__ import annotations

from typing import Any

from omnichat import settings_store
from omnichat.db.lite import Db

KEY_PREFIX = "preferences:"
# theme None: never chosen on any device, so each browser keeps its own until one is.
DEFAULTS: dict[str, Any] = {"default_model": None, "theme": None, "send_on_enter": True, "system_prompt": None,
                             "avatar": None}

# The avatar needs no upload: one of a fixed palette of colours behind the initial, or one of
# a fixed set of emoji in its place (None: the initial on the accent colour). The page has the
# same lists (frontend/src/lib/avatar.js); the API refuses anything else with a 422.
AVATAR_COLOURS = ("red", "orange", "amber", "green", "teal", "blue", "indigo", "purple", "pink", "grey")
AVATAR_EMOJI = ("😀", "😎", "🤓", "🙂", "🦊", "🐱", "🐶", "🐼", "🦉", "🐙", "🌻", "🌈", "🚀", "⭐", "🎧", "☕")


def get(db: Db, user_id: str) -> dict[str, Any]:
    """The user's preferences, each one missing (or saved by another version) as its default."""
    saved = settings_store.get_value(db, KEY_PREFIX + user_id, {})
    saved = saved if isinstance(saved, dict) else {}
    return {name: saved.get(name, default) for name, default in DEFAULTS.items()}


def update(db: Db, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` (already checked by the API's schema) and return the whole result."""
    merged = {**get(db, user_id), **{k: v for k, v in changes.items() if k in DEFAULTS}}
    settings_store.set_value(db, KEY_PREFIX + user_id, merged)
    return merged


def forget(db: Db, user_id: str) -> None:
    """For a deleted account: nothing of theirs stays behind."""
    db.execute("DELETE FROM settings WHERE key = ?", KEY_PREFIX + user_id)

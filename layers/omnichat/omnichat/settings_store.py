"""Platform settings an admin changes at run time, kept in the `settings` table as
`{"value": ...}`. Plain SQL over `omnichat.db.lite` (the OpenAI gateway reads model
settings without SQLAlchemy); ORM code passes `Db.of_session(session)`."""

from __future__ import annotations

from typing import Any

from omnichat.config import SIGNUP_POLICIES, Settings
from omnichat.db.lite import Db, like_escape, utcnow
from omnichat.errors import BadRequest

SIGNUP_POLICY = "signup_policy"


def get_value(db: Db, key: str, default: Any = None) -> Any:
    row = db.execute("SELECT value FROM settings WHERE key = ?", key).fetchone()
    return default if row is None else Db.json_value(row[0]).get("value", default)


def values_under(db: Db, prefix: str) -> dict[str, Any]:
    """Every setting whose key starts with `prefix`, by the rest of its key."""
    rows = db.execute("SELECT key, value FROM settings WHERE key LIKE ? ESCAPE '\\'", like_escape(prefix) + "%")
    return {key[len(prefix):]: Db.json_value(value).get("value") for key, value in rows.fetchall()}


def set_value(db: Db, key: str, value: Any) -> None:
    db.insert("settings", {"key": key, "value": {"value": value}, "updated_at": utcnow()},
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")


def signup_policy(db: Db, settings: Settings) -> str:
    return str(get_value(db, SIGNUP_POLICY, settings.default_signup_policy))


def set_signup_policy(db: Db, policy: str) -> None:
    if policy not in SIGNUP_POLICIES:
        raise BadRequest(f"signup_policy must be one of {', '.join(SIGNUP_POLICIES)}",
                         code="invalid_setting")
    set_value(db, SIGNUP_POLICY, policy)

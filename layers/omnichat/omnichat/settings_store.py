"""Platform settings an admin changes at run time, kept in the `settings` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from omnichat.config import SIGNUP_POLICIES, Settings
from omnichat.db.models import Setting
from omnichat.errors import BadRequest

SIGNUP_POLICY = "signup_policy"


def get_value(db: Session, key: str, default: Any = None) -> Any:
    row = db.get(Setting, key)
    return default if row is None else row.value.get("value", default)


def set_value(db: Session, key: str, value: Any) -> None:
    row = db.get(Setting, key)
    if row is None:
        db.add(Setting(key=key, value={"value": value}))
    else:
        row.value = {"value": value}


def signup_policy(db: Session, settings: Settings) -> str:
    return str(get_value(db, SIGNUP_POLICY, settings.default_signup_policy))


def set_signup_policy(db: Session, policy: str) -> None:
    if policy not in SIGNUP_POLICIES:
        raise BadRequest(f"signup_policy must be one of {', '.join(SIGNUP_POLICIES)}",
                         code="invalid_setting")
    set_value(db, SIGNUP_POLICY, policy)

"""Per-user API keys for the OpenAI-compatible gateway and scripts: shown once at
creation, stored only as a hash, revocable. Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omnichat.auth.credentials import API_KEY_PREFIX
from omnichat.auth.opaque import hash_secret, new_secret
from omnichat.auth.principal import Principal
from omnichat.db.lite import Db, Record, utcnow
from omnichat.errors import BadRequest, NotFound
from omnichat.ids import new_id

MAX_KEYS_PER_USER = 50


@dataclass
class ApiKeyRow(Record):
    TABLE = "api_keys"
    TIMESTAMPS = ("created_at", "last_used_at", "revoked_at")

    id: str
    user_id: str
    name: str
    prefix: str  # shown in listings to recognise a key
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def create(db: Db, principal: Principal, name: str) -> tuple[ApiKeyRow, str]:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise BadRequest("A key name has 1 to 100 characters", code="invalid_name")
    if len(list_keys(db, principal)) >= MAX_KEYS_PER_USER:
        raise BadRequest(f"At most {MAX_KEYS_PER_USER} active keys per user", code="too_many_keys")
    plaintext = new_secret(API_KEY_PREFIX)
    key = ApiKeyRow(id=new_id(), user_id=principal.user_id, name=name, prefix=plaintext[:10],
                    key_hash=hash_secret(plaintext), created_at=utcnow(), last_used_at=None, revoked_at=None)
    key.insert(db)
    return key, plaintext


def list_keys(db: Db, principal: Principal) -> list[ApiKeyRow]:
    return ApiKeyRow.select(db, "WHERE user_id = ? AND revoked_at IS NULL ORDER BY id DESC", principal.user_id)


def revoke(db: Db, principal: Principal, key_id: str) -> None:
    # Another user's key answers exactly like a missing one: ids are not an oracle.
    revoked = db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                         utcnow(), key_id, principal.user_id).rowcount
    if revoked != 1:
        raise NotFound("No such API key", code="api_key_not_found")
    db.execute("DELETE FROM budgets WHERE scope = 'key' AND subject_id = ?", key_id)  # no foreign key: for nothing now

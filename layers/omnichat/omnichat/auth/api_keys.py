"""Per-user API keys for the OpenAI-compatible gateway and scripts: shown once at
creation, stored only as a hash, revocable."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnichat.auth.opaque import hash_secret, new_secret
from omnichat.auth.principal import Principal
from omnichat.auth.credentials import API_KEY_PREFIX
from omnichat.db.models import ApiKey, utcnow
from omnichat.errors import BadRequest, NotFound

MAX_KEYS_PER_USER = 50


def create(db: Session, principal: Principal, name: str) -> tuple[ApiKey, str]:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise BadRequest("A key name has 1 to 100 characters", code="invalid_name")
    if len(list_keys(db, principal)) >= MAX_KEYS_PER_USER:
        raise BadRequest(f"At most {MAX_KEYS_PER_USER} active keys per user", code="too_many_keys")
    plaintext = new_secret(API_KEY_PREFIX)
    key = ApiKey(user_id=principal.user_id, name=name, prefix=plaintext[:10], key_hash=hash_secret(plaintext))
    db.add(key)
    db.flush()
    return key, plaintext


def list_keys(db: Session, principal: Principal) -> list[ApiKey]:
    return list(db.scalars(
        select(ApiKey).where(ApiKey.user_id == principal.user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id.desc())
    ))


def revoke(db: Session, principal: Principal, key_id: str) -> None:
    key = db.get(ApiKey, key_id)
    # Another user's key answers exactly like a missing one: ids are not an oracle.
    if key is None or key.user_id != principal.user_id or key.revoked_at is not None:
        raise NotFound("No such API key", code="api_key_not_found")
    key.revoked_at = utcnow()

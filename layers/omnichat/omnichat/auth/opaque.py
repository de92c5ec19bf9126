"""High-entropy secrets (API keys, WebSocket tickets): random tokens stored as SHA-256.
A fast hash is right here — unlike passwords, these cannot be guessed from a dictionary."""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()

"""argon2id password hashing (argon2-cffi's defaults follow RFC 9106's recommendations).

Each hash or verification takes argon2's memory (64 MiB by default) for its duration, so a
process runs at most `MAX_CONCURRENT` at once: ten sign-ups arriving together must not add
640 MiB to the process. The others wait their turn, up to `WAIT_S`, then get a 429."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from omnichat.errors import TooManyRequests

MIN_LENGTH = 8
MAX_LENGTH = 256  # bounds the hashing cost an attacker can ask for
MAX_CONCURRENT = 2
WAIT_S = 20.0
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)
T = TypeVar("T")


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def _bounded(work: Callable[[], T]) -> T:
    if not _slots.acquire(timeout=WAIT_S):
        raise TooManyRequests("The server is busy; try again in a moment", code="server_busy",
                              headers={"Retry-After": "5"})
    try:
        return work()
    finally:
        _slots.release()


def hash_password(password: str) -> str:
    return _bounded(lambda: _hasher().hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash.startswith("$argon2"):
        # No password (an account made by single sign-on): the same cost as a real check,
        # or the quick refusal would tell who signs in that way.
        verify_password(dummy_hash(), password)
        return False
    try:
        return _bounded(lambda: _hasher().verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


# A real hash to verify against when the account does not exist, so that a sign-in for an
# unknown email costs the same time as one for a known email (no account enumeration).
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return hash_password("omnichat-timing-equaliser")

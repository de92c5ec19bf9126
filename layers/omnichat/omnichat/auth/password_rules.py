"""What a new password must be (NIST SP 800-63B's advice: a minimum length, no composition
rules, refuse the commonly used and the context-specific). Each refusal says what is wrong."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from omnichat.auth import passwords
from omnichat.errors import BadRequest

SERVICE_WORDS = ("omnichat",)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list (auth/common_passwords.txt), read on first use, not at import."""
    text = files("omnichat.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def problem(password: str, email: str) -> str | None:
    """Why `password` is refused for the account `email` (normalized), or None."""
    if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
        return f"Passwords have {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters"
    lowered = password.lower()
    if lowered in common_passwords():
        return "This password is one of the most commonly used; choose a less guessable one"
    if len(set(lowered)) < 3:
        return "This password repeats one or two characters; choose a less guessable one"
    name = email.split("@", 1)[0]
    if lowered == email or (len(name) >= 3 and name in lowered):
        return "The password must not contain your email address or its name part"
    if any(word in lowered for word in SERVICE_WORDS):
        return "The password must not contain the name of this service"
    return None


def check(password: str, email: str) -> None:
    """Raises a 400 `weak_password` saying what is wrong."""
    reason = problem(password, email)
    if reason:
        raise BadRequest(reason, code="weak_password")

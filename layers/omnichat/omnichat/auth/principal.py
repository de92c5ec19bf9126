"""Who is making a request, as the policies see it."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "user", "pending")


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    role: str
    session_id: str | None = None  # set for access tokens
    api_key_id: str | None = None  # set for API keys

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:
        return self.role in ("admin", "user")

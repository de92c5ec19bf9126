"""Who is making a request, as the policies see it."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("admin", "user", "pending")


def groups_sql(sqlite: bool, user: str = "u.id") -> str:
    """A scalar subquery: the ids of the groups of the user `user` names, comma-separated
    (NULL when none), read with the principal in the same statement (`read_groups`)."""
    agg = "group_concat(gm.group_id, ',')" if sqlite else "string_agg(gm.group_id, ',')"
    return f"(SELECT {agg} FROM group_members gm WHERE gm.user_id = {user})"


def read_groups(value: object) -> frozenset[str]:
    return frozenset(str(value).split(",")) if value else frozenset()


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    role: str
    session_id: str | None = None  # set for access tokens
    api_key_id: str | None = None  # set for API keys
    groups: frozenset[str] = field(default_factory=frozenset)  # ids of the user's groups

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:
        return self.role in ("admin", "user")

"""An admin's user management: list, approve, change role, delete. The platform always
keeps at least one admin. Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

from omnichat.auth import preferences
from omnichat.auth.principal import ROLES
from omnichat.auth.users import UserRow, get_user
from omnichat.db.lite import Db, utcnow
from omnichat.errors import BadRequest, Conflict


def list_users(db: Db, *, limit: int = 50, after: str | None = None, role: str | None = None) -> list[UserRow]:
    where, params = [], []
    if after:
        where.append("id > ?")
        params.append(after)
    if role:
        where.append("role = ?")
        params.append(role)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    return UserRow.select(db, f"{clause}ORDER BY id LIMIT ?", *params, limit)


def _guard_last_admin(db: Db, user: UserRow) -> None:
    if user.role == "admin":
        admins = db.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone()[0]
        if (admins or 0) <= 1:
            raise Conflict("The last admin cannot be removed or demoted", code="last_admin")


def set_role(db: Db, user_id: str, role: str) -> UserRow:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    user = get_user(db, user_id)
    if role != "admin":
        _guard_last_admin(db, user)
    user.role, user.updated_at = role, utcnow()
    db.execute("UPDATE users SET role = ?, updated_at = ? WHERE id = ?", role, user.updated_at, user.id)
    return user


def delete_user(db: Db, user_id: str) -> None:
    user = get_user(db, user_id)
    _guard_last_admin(db, user)
    db.execute("DELETE FROM messages WHERE chat_id IN (SELECT id FROM chats WHERE user_id = ?)", user.id)
    # Budgets name their subject without a foreign key: the user's and their keys' go too.
    db.execute("DELETE FROM budgets WHERE (scope = 'user' AND subject_id = ?) OR (scope = 'key' AND subject_id IN "
               "(SELECT id FROM api_keys WHERE user_id = ?))", user.id, user.id)
    db.execute("DELETE FROM users WHERE id = ?", user.id)  # sessions, keys, tickets, connections and chats cascade
    preferences.forget(db, user.id)

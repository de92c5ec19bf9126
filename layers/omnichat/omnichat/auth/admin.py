"""An admin's user management: list, approve, change role, delete. The platform always
keeps at least one admin."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from omnichat.auth.principal import ROLES
from omnichat.db.models import Chat, Message, User
from omnichat.errors import BadRequest, Conflict, NotFound


def get_user(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("No such user", code="user_not_found")
    return user


def list_users(db: Session, *, limit: int = 50, after: str | None = None, role: str | None = None) -> list[User]:
    query = select(User).order_by(User.id).limit(limit)
    if after:
        query = query.where(User.id > after)
    if role:
        query = query.where(User.role == role)
    return list(db.scalars(query))


def _guard_last_admin(db: Session, user: User) -> None:
    if user.role == "admin":
        admins = db.scalar(select(func.count()).select_from(User).where(User.role == "admin"))
        if (admins or 0) <= 1:
            raise Conflict("The last admin cannot be removed or demoted", code="last_admin")


def set_role(db: Session, user_id: str, role: str) -> User:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    user = get_user(db, user_id)
    if role != "admin":
        _guard_last_admin(db, user)
    user.role = role
    return user


def delete_user(db: Session, user_id: str) -> None:
    user = get_user(db, user_id)
    _guard_last_admin(db, user)
    chat_ids = select(Chat.id).where(Chat.user_id == user.id).scalar_subquery()
    db.execute(delete(Message).where(Message.chat_id.in_(chat_ids)))
    db.delete(user)  # sessions, keys, tickets, connections and chats cascade

"""/api/admin/groups: groups of users (admins only). Local groups are managed here; the
members of groups synced from the identity provider come from its group claim."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from omnichat import audit
from omnichat.api.deps import SQL, AuditOrigin
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import Strict
from omnichat.auth import groups
from omnichat.auth.groups import GroupRow

router = APIRouter(route_class=CheckedRoute, prefix="/api/admin/groups", tags=["admin"])


class GroupIn(Strict):
    # 1 to 100 characters once runs of whitespace are one space (auth/groups.clean_name).
    name: str = Field(min_length=1, max_length=groups.MAX_NAME, pattern=r"\S")


class MemberIn(Strict):
    user_id: str = Field(max_length=36)


class GroupOut(BaseModel):
    id: str
    name: str
    source: Literal["local", "idp"]
    external_id: str | None
    members: int
    created_at: datetime

    @classmethod
    def of(cls, group: GroupRow, members: int) -> GroupOut:
        return cls(id=group.id, name=group.name, source=group.source, external_id=group.external_id,  # type: ignore[arg-type]
                   members=members, created_at=group.created_at)


class MemberOut(BaseModel):
    id: str
    email: str
    name: str


@router.get("", response_model=list[GroupOut])
def list_groups(db: SQL) -> list[GroupOut]:
    return [GroupOut.of(g, n) for g, n in groups.list_all(db)]


@router.post("", status_code=201, response_model=GroupOut, responses=error_responses(409))
def create_group(body: GroupIn, db: SQL, origin: AuditOrigin) -> GroupOut:
    group = groups.create(db, body.name)
    audit.record(db, origin, "group.created", target=("group", group.id), details={"name": group.name})
    return GroupOut.of(group, 0)


@router.patch("/{group_id}", response_model=GroupOut, responses=error_responses(409))
def rename_group(group_id: str, body: GroupIn, db: SQL, origin: AuditOrigin) -> GroupOut:
    before = groups.get(db, group_id).name
    group = groups.rename(db, group_id, body.name)
    audit.record_changes(db, origin, "group.renamed", target=("group", group.id), before={"name": before},
                         after={"name": group.name})
    return GroupOut.of(group, len(groups.members(db, group.id)))


@router.delete("/{group_id}", status_code=204)
def delete_group(group_id: str, db: SQL, origin: AuditOrigin) -> Response:
    name = groups.get(db, group_id).name
    groups.delete(db, group_id)
    audit.record(db, origin, "group.deleted", target=("group", group_id), details={"name": name})
    return Response(status_code=204)


@router.get("/{group_id}/members", response_model=list[MemberOut])
def list_members(group_id: str, db: SQL) -> list[MemberOut]:
    return [MemberOut(id=i, email=e, name=n) for i, e, n in groups.members(db, group_id)]


@router.post("/{group_id}/members", status_code=204, responses=error_responses(409))
def add_member(group_id: str, body: MemberIn, db: SQL, origin: AuditOrigin) -> Response:
    groups.add_member(db, group_id, body.user_id)
    audit.record(db, origin, "group.member_added", target=("group", group_id), details={"user_id": body.user_id})
    return Response(status_code=204)


@router.delete("/{group_id}/members/{user_id}", status_code=204, responses=error_responses(409))
def remove_member(group_id: str, user_id: str, db: SQL, origin: AuditOrigin) -> Response:
    groups.remove_member(db, group_id, user_id)
    audit.record(db, origin, "group.member_removed", target=("group", group_id), details={"user_id": user_id})
    return Response(status_code=204)

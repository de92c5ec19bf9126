"""/api/admin/audit: the audit log (omnichat/audit.py), for admins only: a page of
entries newest first, an export (CSV or JSON Lines) and the retention setting."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from omnichat import audit
from omnichat.api.deps import SQL, AuditOrigin
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import Strict
from omnichat.errors import BadRequest

router = APIRouter(route_class=CheckedRoute, prefix="/api/admin/audit", tags=["audit"])

EXPORT_PAGE = 5000  # entries per export response (a Lambda answers at most 6 MB); the rest: X-Next-Cursor
CSV_COLUMNS = ("at", "actor_id", "actor_label", "action", "target_type", "target_id", "ip", "user_agent", "details",
               "id")


class AuditEntryOut(BaseModel):
    id: str
    at: datetime
    actor_id: str | None  # null: nobody signed in (a failed sign-in)
    actor_label: str  # the actor's email when it acted
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, object]
    ip: str | None
    user_agent: str | None


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None  # pass as `cursor` for the next (older) page; null: no more


class AuditSettings(Strict):
    retention_days: int = Field(ge=1, le=audit.MAX_RETENTION_DAYS)  # entries older than this are deleted


Moment = Annotated[str | None, Query(max_length=64, json_schema_extra={"format": "date-time"},
                                     description="ISO 8601; UTC if it names no offset")]


def filters(actor: Annotated[str | None, Query(max_length=320, description="a user id or email")] = None,
            action: Annotated[str | None, Query(max_length=64, description="a prefix: 'user.', 'auth.sign_in'")] = None,
            target: Annotated[str | None, Query(max_length=320, description="the target's id")] = None,
            since: Moment = None, until: Moment = None) -> audit.Filters:
    """`since` inclusive, `until` exclusive."""
    return audit.Filters(actor=actor, action=action, target=target, since=_moment("since", since),
                         until=_moment("until", until))


def _moment(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date and time (or a date: its midnight); not a number of seconds."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: an offset that leaves the years datetime holds
        raise BadRequest(f"{name}: not an ISO 8601 date and time, e.g. 2026-01-31T00:00:00Z",
                         code="invalid_parameter") from None


Filters = Annotated[audit.Filters, Depends(filters)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("", response_model=AuditPageOut, responses=error_responses(400))
def list_entries(sql: SQL, where: Filters, cursor: Cursor = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> AuditPageOut:
    found, next_cursor = audit.entries(sql, where, limit=limit, cursor=cursor)
    return AuditPageOut(entries=[AuditEntryOut(**vars(e)) for e in found], next_cursor=next_cursor)


@router.get("/export", responses={**error_responses(400), 200: {
    "description": "CSV (a header row on the first page) or JSON Lines; `X-Next-Cursor` names the next page",
    "content": {"text/csv": {}, "application/x-ndjson": {}}}})
def export_entries(sql: SQL, where: Filters, origin: AuditOrigin, format: Literal["csv", "jsonl"] = "csv",
                   cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=EXPORT_PAGE)] = EXPORT_PAGE) -> Response:
    """Matching entries, newest first, `limit` per response: fetch again with `cursor` set
    to the `X-Next-Cursor` header while there is one; the pages joined are one file."""
    found, next_cursor = audit.entries(sql, where, limit=limit, cursor=cursor)
    if cursor is None:  # an export is recorded once, at its first page
        audit.record(sql, origin, "audit.exported", details={"format": format, **_given(where)})
    body = _csv(found, header=cursor is None) if format == "csv" else "".join(
        json.dumps(e.as_json(), ensure_ascii=False) + "\n" for e in found)
    headers = {"Content-Disposition": f'attachment; filename="omnichat-audit.{format}"'}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return Response(body, media_type="text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson",
                    headers=headers)


@router.get("/settings", response_model=AuditSettings)
def get_settings(sql: SQL) -> AuditSettings:
    return AuditSettings(retention_days=audit.retention_days(sql))


@router.put("/settings", response_model=AuditSettings)
def put_settings(body: AuditSettings, sql: SQL, origin: AuditOrigin) -> AuditSettings:
    before = audit.retention_days(sql)
    audit.set_retention_days(sql, body.retention_days)
    if before != body.retention_days:
        audit.record(sql, origin, "settings.changed", target=("settings", "audit"),
                     details={"retention_days": {"from": before, "to": body.retention_days}})
    return body


def _given(where: audit.Filters) -> dict[str, object]:
    return {name: str(value) for name, value in vars(where).items() if value is not None}


def _csv(entries: list[audit.AuditEntry], *, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = entry.as_json()
        row["details"] = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
        writer.writerow([_cell(row[name]) for name in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula (=, +, -, @) is
    prefixed with an apostrophe (a crafted email or user agent must not run as one)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

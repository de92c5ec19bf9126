"""The audit log: who did what, when, from where (docs/security.md, "Audit log").

One table, `audit`, written by `record()` from every place that changes who may do what:
sign-ins (success and failure), sign-up, sign-out, password changes, an admin's changes to
users, models, presets, budgets, groups and server settings, API keys created and revoked.
Read by admins only (GET /api/admin/audit, /api/admin/audit/export). Plain SQL over
`omnichat.db.lite`.

How to record an action (the SSO, groups and budgets code do the same):

    from omnichat import audit
    from omnichat.api.deps import AuditOrigin          # REST: who is calling, from where

    def route(..., sql: SQL, origin: AuditOrigin):
        before = ...                                   # the object's fields, before
        ...                                            # the change, on `sql`
        audit.record(sql, origin, "group.renamed", target=("group", group_id),
                     details=audit.changes(before, after))
        # (an edit that may change nothing: audit.record_changes(..., before=, after=))

- Call it on the same `Db` as the change, after the change succeeded: the entry commits
  or rolls back with it, so a refused or failed change leaves no entry and a committed one
  always has one. An action that is refused yet must be remembered (a failed sign-in)
  commits its entry itself before raising (see `sign_in_failed`).
- `origin` is the caller (`Origin`): the REST dependency `AuditOrigin` builds it from the
  request's principal, client address (`api.deps.client_address`, the one source the
  sign-in throttle uses too) and user agent; code outside a request passes `Origin(label=
  "system")` or the user it acts for (`origin.acting_as(user_id, email)` once known).
- `details` holds non-secret fields only (before/after: `changes()`). As a safety net
  every value under a secret-sounding key (`password`, `secret`, `token`, `key`, `*_hash`,
  ...) is replaced by "[redacted]" and long strings are shortened; still, never pass a
  password, a key, a token or a client secret.
- Action names are `<area>.<verb>`: `auth.*`, `user.*`, `model.*`, `preset.*`, `key.*`,
  `settings.*`, `group.*`, `budget.*`, `sso.*`. The admin page filters by prefix.

Entries older than the retention setting (`retention_days`, default 365) are deleted by
`record()` itself, at most once an hour per process: one indexed DELETE.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from omnichat import settings_store
from omnichat.db.lite import Db, Record, like_escape, utcnow
from omnichat.errors import BadRequest
from omnichat.ids import new_id

RETENTION_KEY = "audit_retention_days"
DEFAULT_RETENTION_DAYS = 365
MAX_RETENTION_DAYS = 3650
CLEANUP_EVERY_S = 3600.0
REDACTED = "[redacted]"
MAX_TEXT = 500  # characters of one string in `details`
MAX_ITEMS = 50  # items of one list in `details`

_SECRET_NAMES = frozenset({"password", "new_password", "current_password", "secret", "client_secret", "token",
                           "access_token", "refresh_token", "id_token", "key", "api_key", "authorization",
                           "cookie", "credential", "credentials", "code_verifier", "ticket"})
_SECRET_SUFFIXES = ("password", "secret", "_hash", "_token", "_key")
_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
_next_cleanup = 0.0  # time.monotonic() after which record() deletes expired entries again


@dataclass(frozen=True)
class Origin:
    """Who acts, and from where. `user_id` None: nobody is signed in (a failed sign-in, a
    sign-up) or the platform itself (`label` "system")."""

    user_id: str | None = None
    label: str = ""  # the actor's email at the time (the entry outlives the account)
    address: str | None = None
    user_agent: str | None = None

    def acting_as(self, user_id: str | None, label: str) -> Origin:
        """The same request, its actor now known (a sign-in that succeeded, a sign-up)."""
        return replace(self, user_id=user_id, label=label)


SYSTEM = Origin(label="system")


@dataclass
class AuditEntry(Record):
    TABLE = "audit"
    JSON = ("details",)
    TIMESTAMPS = ("at",)

    id: str
    at: datetime
    actor_id: str | None
    actor_label: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip: str | None
    user_agent: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor_id": self.actor_id, "actor_label": self.actor_label,
                "action": self.action, "target_type": self.target_type, "target_id": self.target_id,
                "details": self.details, "ip": self.ip, "user_agent": self.user_agent}


# ---- writing -----------------------------------------------------------------------------
def record(db: Db, origin: Origin, action: str, *, target: tuple[str, str | None] | None = None,
           details: Mapping[str, Any] | None = None) -> AuditEntry:
    """Add one entry, in `db`'s transaction (see the module's docstring). `target`:
    (type, id) of the object acted on, e.g. ("user", user_id), ("model", "ollama/x:1b")."""
    if not _ACTION.match(action) or len(action) > 64:
        raise ValueError(f"not an audit action name: {action!r}")  # a programming error, not input
    target_type, target_id = target if target else (None, None)
    entry = AuditEntry(id=new_id(), at=utcnow(), actor_id=origin.user_id, actor_label=(origin.label or "")[:320],
                       action=action, target_type=target_type[:32] if target_type else None,
                       target_id=target_id[:320] if target_id else None, details=scrub(dict(details or {})),
                       ip=origin.address[:64] if origin.address else None,
                       user_agent=origin.user_agent[:300] if origin.user_agent else None)
    entry.insert(db)
    _cleanup_now_and_then(db)
    return entry


def sign_in_failed(db: Db, origin: Origin, email: str, *, reason: str = "invalid_credentials") -> None:
    """A refused sign-in, committed at once: the request that raises next rolls back, and
    the entry must stay. The account (if any) is the target; the actor is nobody. What was
    typed as the email is kept only if it looks like one (a password typed into the email
    field must not land in the log)."""
    typed = email.strip().lower()
    row = db.execute("SELECT id, email FROM users WHERE email = ?", typed[:320]).fetchone()
    label = row[1] if row else (typed if _looks_like_email(typed) else "(not an email address)")
    record(db, origin.acting_as(None, label), "auth.sign_in_failed", target=("user", row[0]) if row else None,
           details={"reason": reason if row else "unknown_account"})
    db.commit()


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"from": old, "to": new}} for each field of `after` whose value differs."""
    return {name: {"from": before.get(name), "to": value} for name, value in after.items()
            if _plain(before.get(name)) != _plain(value)}


def record_changes(db: Db, origin: Origin, action: str, *, target: tuple[str, str | None],
                   before: Mapping[str, Any], after: Mapping[str, Any],
                   context: Mapping[str, Any] | None = None) -> AuditEntry | None:
    """`record()` an edit only if it changed something: details are `context` (what names
    the object, e.g. the user's email), then `changes(before, after)`."""
    changed = changes(before, after)
    return record(db, origin, action, target=target, details={**(context or {}), **changed}) if changed else None


def scrub(value: Any, name: str = "") -> Any:
    """`value` as JSON, with every value under a secret-sounding key redacted, long
    strings and lists shortened."""
    if name and _secret_name(name) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k)[:100]: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [scrub(v) for v in list(value)[:MAX_ITEMS]]
        return items + ([f"... {len(value) - MAX_ITEMS} more"] if len(value) > MAX_ITEMS else [])
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"... ({len(value)} characters)"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value))  # datetimes, enums ...


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _looks_like_email(text: str) -> bool:
    return 3 <= len(text) <= 320 and text.count("@") == 1 and not any(c.isspace() for c in text)


# ---- retention ---------------------------------------------------------------------------
def retention_days(db: Db) -> int:
    value = settings_store.get_value(db, RETENTION_KEY, DEFAULT_RETENTION_DAYS)
    return value if isinstance(value, int) and 1 <= value <= MAX_RETENTION_DAYS else DEFAULT_RETENTION_DAYS


def set_retention_days(db: Db, days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise BadRequest(f"retention_days must be a whole number from 1 to {MAX_RETENTION_DAYS}",
                         code="invalid_setting")
    settings_store.set_value(db, RETENTION_KEY, days)


def cleanup(db: Db) -> int:
    """Delete the entries older than the retention; how many went."""
    cutoff = utcnow() - timedelta(days=retention_days(db))
    return int(db.execute("DELETE FROM audit WHERE at < ?", cutoff).rowcount or 0)


def _cleanup_now_and_then(db: Db) -> None:
    global _next_cleanup
    now = time.monotonic()
    if now >= _next_cleanup:
        _next_cleanup = now + CLEANUP_EVERY_S
        cleanup(db)


# ---- reading -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    actor: str | None = None  # a user id, or the email the entry was recorded with
    action: str | None = None  # a prefix: "user." or "auth.sign_in"
    target: str | None = None  # the target's id
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def checked(self) -> Filters:
        since, until = _aware(self.since), _aware(self.until)
        if since and until and since >= until:
            raise BadRequest("since must be before until", code="invalid_range")
        return replace(self, since=since, until=until, actor=(self.actor or "").strip() or None,
                       action=(self.action or "").strip() or None, target=(self.target or "").strip() or None)


def entries(db: Db, filters: Filters, *, limit: int, cursor: str | None = None) -> tuple[list[AuditEntry], str | None]:
    """A page of matching entries, newest first, and the cursor of the next page (None:
    this was the last)."""
    filters = filters.checked()
    where: list[str] = []
    params: list[Any] = []
    if filters.actor:
        where.append("(actor_id = ? OR actor_label = ?)")
        params += [filters.actor, filters.actor.lower()]
    if filters.action:
        where.append("action LIKE ? ESCAPE '\\'")
        params.append(like_escape(filters.action) + "%")
    if filters.target:
        where.append("target_id = ?")
        params.append(filters.target)
    if filters.since:
        where.append("at >= ?")
        params.append(filters.since)
    if filters.until:
        where.append("at < ?")
        params.append(filters.until)
    if cursor:
        at, last_id = _decode_cursor(cursor)
        where.append("(at < ? OR (at = ? AND id < ?))")
        params += [at, at, last_id]
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    rows = AuditEntry.select(db, f"{clause}ORDER BY at DESC, id DESC LIMIT ?", *params, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_cursor(rows[-1]) if more and rows else None)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _encode_cursor(entry: AuditEntry) -> str:
    return base64.urlsafe_b64encode(f"{entry.at.isoformat()}|{entry.id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, last_id = text.split("|", 1)
        moment = _aware(datetime.fromisoformat(at))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise BadRequest("The cursor is not one this API gave", code="invalid_cursor") from None
    assert moment is not None
    return moment, last_id

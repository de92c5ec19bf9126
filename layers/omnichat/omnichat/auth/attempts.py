"""The attempt log behind throttling: timestamped rows in `signin_failures`, one table
shared by every Lambda instance, told apart by a scope string. Plain SQL over
`omnichat.db.lite`.

Scopes (emails and addresses are bounded: 320 and `_ADDRESS_CHARS` characters):
  `email:<email>`              a failed sign-in on the account from an address it does not know
  `ip:<address>`               a failed sign-in from the address, any account
  `pair:<email>|ip:<address>`  a failed sign-in on the account from the address
  `known:<email>|ip:<address>` the account's last successful sign-in (or sign-up) from the address
  `signup:ip:<address>`        a sign-up from the address
"""

from __future__ import annotations

from datetime import datetime, timedelta

from omnichat.db.lite import Db, utcnow
from omnichat.ids import new_id

_ADDRESS_CHARS = 64  # an IPv6 address with a zone fits; anything longer is cut, not trusted more
KNOWN_TTL = timedelta(days=30)  # how long a successful sign-in makes an address "known"
SHORT_LIVED_TTL = timedelta(hours=1)  # every other kind of row is counted over at most this


def account(email: str) -> str:
    return f"email:{email}"


def address(addr: str) -> str:
    return f"ip:{addr[:_ADDRESS_CHARS]}"


def pair(email: str, addr: str | None) -> str:
    return f"pair:{email}|{address(addr or '')}"


def known(email: str, addr: str) -> str:
    return f"known:{email}|{address(addr)}"


def signup(addr: str) -> str:
    return f"signup:{address(addr)}"


def sso_start(addr: str) -> str:
    return f"sso-start:{address(addr)}"


def record(db: Db, *scopes: str, keep: timedelta = SHORT_LIVED_TTL) -> None:
    """A row per scope, stamped now; `keep`: how long the caller counts them."""
    now = utcnow()
    for scope in scopes:
        db.insert("signin_failures", {"id": new_id(), "scope": scope, "created_at": now})
    _prune(db, now - max(keep, SHORT_LIVED_TTL))


def times(db: Db, scope: str, since: datetime) -> list[datetime]:
    """When the scope's rows since `since` were recorded, oldest first."""
    rows = db.execute("SELECT created_at FROM signin_failures WHERE scope = ? AND created_at >= ?"
                      " ORDER BY created_at", scope, since).fetchall()
    return [t for (value,) in rows if (t := Db.timestamp(value)) is not None]


def touch(db: Db, scope: str) -> None:
    """One row for the scope, stamped now (a marker, not a count)."""
    now = utcnow()
    if db.execute("UPDATE signin_failures SET created_at = ? WHERE scope = ?", now, scope).rowcount == 0:
        db.insert("signin_failures", {"id": new_id(), "scope": scope, "created_at": now})


def forget(db: Db, scope: str) -> None:
    db.execute("DELETE FROM signin_failures WHERE scope = ?", scope)


def _prune(db: Db, before: datetime) -> None:
    """Rows that no longer count go whenever one is written: the table stays the size of
    the last hour's attempts (plus a marker per known account and address)."""
    db.execute("DELETE FROM signin_failures WHERE created_at < ? AND scope NOT LIKE 'known:%'", before)
    db.execute("DELETE FROM signin_failures WHERE created_at < ? AND scope LIKE 'known:%'", utcnow() - KNOWN_TTL)

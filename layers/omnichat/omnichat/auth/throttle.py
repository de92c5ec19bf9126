"""Sign-in and sign-up throttling, kept in the database so that every Lambda instance sees
the same counts. The design and its reasons are in docs/security.md ("Sign-in
throttling"); in short:

- per (account, address) pair: a few free failures, then an exponentially growing delay;
- per address, across accounts: a budget of failures (password spraying);
- per account, across addresses: a budget of failures from addresses the account has not
  signed in from (distributed guessing);
- an address the account signed in from in the last 30 days ("known") answers to its own
  pair delay only, so a stranger's failures never lock the owner out of their usual places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from omnichat.auth import attempts
from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
from omnichat.errors import TooManyRequests

PAIR_FREE_FAILURES = 5  # typos cost nothing; then 30 s, 60 s, 120 s ... up to the window
PAIR_FIRST_DELAY_S = 30
SIGNUP_WINDOW = timedelta(hours=1)
SSO_START_WINDOW = timedelta(minutes=10)  # an SSO state's lifetime (auth/sso.py STATE_TTL)


@dataclass(frozen=True)
class SignIn:
    """One sign-in attempt's place in the counts."""

    email: str
    address: str | None
    known: bool  # the account signed in from this address recently


def check_signin(db: Db, settings: Settings, email: str, address: str | None) -> SignIn:
    """Raises 429 if this attempt must wait; else what the outcome is to be recorded with."""
    now = utcnow()
    window = timedelta(seconds=settings.signin_window_s)
    known = bool(address) and bool(attempts.times(db, attempts.known(email, address or ""), now - attempts.KNOWN_TTL))
    pair = attempts.times(db, attempts.pair(email, address), now - window)
    if len(pair) >= PAIR_FREE_FAILURES:
        delay = min(PAIR_FIRST_DELAY_S * 2 ** (len(pair) - PAIR_FREE_FAILURES), settings.signin_window_s)
        _refuse_until(pair[-1] + timedelta(seconds=delay), now)
    if not known:
        if address:
            _budget(attempts.times(db, attempts.address(address), now - window),
                    settings.signin_max_failures_address, window, now)
        _budget(attempts.times(db, attempts.account(email), now - window),
                settings.signin_max_failures_account, window, now)
    return SignIn(email, address, known)


def record_failure(db: Db, settings: Settings, attempt: SignIn) -> None:
    scopes = [attempts.pair(attempt.email, attempt.address)]
    if attempt.address:
        scopes.append(attempts.address(attempt.address))
    if not attempt.known:  # only strangers count against the account's budget
        scopes.append(attempts.account(attempt.email))
    attempts.record(db, *scopes, keep=timedelta(seconds=settings.signin_window_s))


def record_success(db: Db, attempt: SignIn) -> None:
    """The pair starts afresh and the address becomes known. The account's budget is not
    reset: the owner signing in must not hand a guesser a fresh allowance."""
    attempts.forget(db, attempts.pair(attempt.email, attempt.address))
    if attempt.address:
        attempts.touch(db, attempts.known(attempt.email, attempt.address))


def remember_address(db: Db, email: str, address: str | None) -> None:
    """Whoever set the password here (sign-up) signs in from here as from a known address."""
    if address:
        attempts.touch(db, attempts.known(email, address))


def check_signup(db: Db, settings: Settings, address: str | None) -> None:
    """Raises 429 past the address's hourly budget of sign-ups, else counts this one. The
    count is committed at once, before the slow password hash, so that sign-ups arriving
    together see each other (refused ones are not counted: a flood adds no rows)."""
    if address:
        _count_within(db, attempts.signup(address), settings.signup_max_per_address, SIGNUP_WINDOW,
                      code="signup_throttled", message="Too many sign-ups from this address; try again later")
        db.commit()


def check_sso_start(db: Db, settings: Settings, address: str | None) -> None:
    """Raises 429 past the address's budget of single sign-ons begun (each keeps a state row
    until it is used or expires, so an unthrottled start is a way to fill the database),
    else counts this one."""
    if address:
        _count_within(db, attempts.sso_start(address), settings.sso_max_starts_per_address, SSO_START_WINDOW,
                      code="sso_throttled", message="Too many sign-ins begun from this address; try again later")


def _count_within(db: Db, scope: str, limit: int, window: timedelta, *, code: str, message: str) -> None:
    """Refuses (429) once `scope` has `limit` attempts within `window`, else records this one."""
    now = utcnow()
    _budget(attempts.times(db, scope, now - window), limit, window, now, code=code, message=message)
    attempts.record(db, scope, keep=window)


def _budget(times: list[datetime], limit: int, window: timedelta, now: datetime, *, code: str = "signin_throttled",
            message: str = "Too many failed sign-in attempts; try again later") -> None:
    """Refuses while `limit` or more of `times` (oldest first) are within the window: until
    enough of them age out of it."""
    if len(times) >= limit:
        _refuse_until(times[len(times) - limit] + window, now, code=code, message=message)


def _refuse_until(until: datetime, now: datetime, *, code: str = "signin_throttled",
                  message: str = "Too many failed sign-in attempts; try again later") -> None:
    if until > now:
        raise TooManyRequests(message, code=code,
                              headers={"Retry-After": str(max(1, math.ceil((until - now).total_seconds())))})

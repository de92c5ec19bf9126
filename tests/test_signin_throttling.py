"""Sign-in throttling (docs/security.md): guessing stays throttled from one address and
from many, while a stranger's failures never lock the owner out of an address they have
signed in from. Each client below is the real app seen from another client address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omnichat.auth import throttle
from omnichat.db.engine import session_scope
from omnichat.db.models import SignInFailure
from tests.helpers import PASSWORD, assert_error, at

OWNER = "owner@example.com"
WRONG = "not the password"


def sign_in(client: TestClient, password: str, email: str = OWNER) -> Any:
    return client.post("/api/auth/signin", json={"email": email, "password": password})


@pytest.fixture
def home(app, client) -> TestClient:  # type: ignore[no-untyped-def]
    """The owner's usual address: they signed up (and so set the password) from it."""
    home = at(app, "198.51.100.1")
    assert home.post("/api/auth/signup", json={"email": OWNER, "password": PASSWORD}).status_code == 202
    return home


def age_failures(settings, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Moves every recorded failure `seconds` into the past: the clock, without waiting."""
    with session_scope(settings.resolved_database_url) as db:
        for row in db.scalars(select(SignInFailure).where(~SignInFailure.scope.like("known:%"))):
            row.created_at -= timedelta(seconds=seconds)


def test_strangers_failing_from_rotating_addresses_do_not_lock_the_owner_out(app, home, settings):
    for i in range(3 * settings.signin_max_failures_account):
        r = sign_in(at(app, f"203.0.113.{i + 1}"), WRONG)
        assert r.status_code in (401, 429), r.text
    assert sign_in(home, PASSWORD).status_code == 200


def test_a_noisy_shared_address_does_not_lock_out_the_accounts_signed_in_from_it(app, home, settings):
    nat = at(app, "192.0.2.50")
    signup = {"email": "colleague@example.com", "password": PASSWORD}
    assert nat.post("/api/auth/signup", json=signup).status_code == 202
    for i in range(settings.signin_max_failures_address + 5):  # someone behind the same NAT sprays accounts
        sign_in(nat, WRONG, email=f"guess{i}@example.com")
    assert_error(sign_in(nat, WRONG, email="another@example.com"), 429, "signin_throttled")
    assert sign_in(nat, PASSWORD, email="colleague@example.com").status_code == 200
    # The owner's account is not known at this address: spraying from it stays refused.
    assert_error(sign_in(nat, PASSWORD), 429, "signin_throttled")


def test_guessing_one_account_from_many_addresses_stays_throttled(app, home, settings):
    for i in range(settings.signin_max_failures_account):
        assert_error(sign_in(at(app, f"203.0.113.{i + 1}"), WRONG), 401, "invalid_credentials")
    for i in range(10):  # every further address, even with the right password, waits
        r = sign_in(at(app, f"198.18.0.{i + 1}"), PASSWORD)
        assert_error(r, 429, "signin_throttled")
        assert 0 < int(r.headers["retry-after"]) <= settings.signin_window_s
    assert sign_in(home, PASSWORD).status_code == 200  # the owner, from home, is not


def test_one_address_guessing_waits_exponentially_longer(app, home, settings):
    """From the owner's own address too: the pair's delay is the one limit that applies there."""
    for _ in range(throttle.PAIR_FREE_FAILURES):
        assert_error(sign_in(home, WRONG), 401, "invalid_credentials")
    waits = []
    for _ in range(3):
        r = sign_in(home, PASSWORD)  # refused before the password is looked at
        assert_error(r, 429, "signin_throttled")
        waits.append(int(r.headers["retry-after"]))
        age_failures(settings, waits[-1])
        assert_error(sign_in(home, WRONG), 401, "invalid_credentials")  # one more guess, then a longer wait
    assert waits[0] <= throttle.PAIR_FIRST_DELAY_S < waits[1] <= 2 * throttle.PAIR_FIRST_DELAY_S < waits[2]


def test_throttled_failures_age_out_of_the_window(app, home, settings):
    stranger = at(app, "203.0.113.9")
    for _ in range(settings.signin_max_failures_account):
        sign_in(stranger, WRONG)
    assert_error(sign_in(stranger, PASSWORD), 429, "signin_throttled")
    age_failures(settings, settings.signin_window_s + 1)
    assert sign_in(stranger, PASSWORD).status_code == 200


def test_the_owners_success_does_not_reset_the_strangers_budget(app, home, settings):
    for i in range(settings.signin_max_failures_account):
        sign_in(at(app, f"203.0.113.{i + 1}"), WRONG)
    assert sign_in(home, PASSWORD).status_code == 200
    assert_error(sign_in(at(app, "198.18.0.1"), PASSWORD), 429, "signin_throttled")

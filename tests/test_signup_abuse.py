"""Sign-up (docs/security.md): it tells no one which emails are registered, refuses weak
passwords saying why, is throttled per address, and hashes a bounded number of passwords
at once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from omnichat.auth import password_rules, passwords
from omnichat.db.engine import session_scope
from omnichat.db.models import User
from tests.helpers import PASSWORD, assert_error, at, set_policy, sign_up


def signup(client, email: str, password: str = PASSWORD, name: str = ""):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/signup", json={"email": email, "password": password, "name": name})


def test_a_taken_email_gets_the_same_answer_as_a_new_one_and_changes_nothing(client, settings):
    new = signup(client, "new@example.com")
    signup(client, "taken@example.com", name="Owner")
    taken = signup(client, "Taken@Example.com", password="another good passphrase", name="Intruder")
    assert (new.status_code, new.json()) == (taken.status_code, taken.json()) and new.status_code == 202
    assert set(new.json()) == {"status", "message"} and "access_token" not in new.text
    with session_scope(settings.resolved_database_url) as db:
        rows = db.execute(select(User.email, User.name)).all()
    assert sorted(rows) == [("new@example.com", ""), ("taken@example.com", "Owner")]
    assert client.post("/api/auth/signin", json={"email": "taken@example.com", "password": PASSWORD}).status_code == 200
    assert_error(client.post("/api/auth/signin", json={"email": "taken@example.com",
                                                       "password": "another good passphrase"}), 401)


def test_the_first_user_is_the_admin_and_approval_still_makes_pending_users(client):
    admin = sign_up(client, "admin@example.com")
    assert admin.role == "admin"
    set_policy(client, admin, "approval")
    assert sign_up(client, "later@example.com").role == "pending"
    # A taken email under approval: the same answer, and the admin stays an admin.
    assert signup(client, "admin@example.com", password="some other passphrase").status_code == 202
    assert client.get("/api/auth/me", headers=admin.headers).json()["role"] == "admin"


@pytest.mark.parametrize("password, why", [
    ("password", "commonly used"),
    ("12345678", "commonly used"),
    ("PassWord1", "commonly used"),
    ("qwertyuiop", "commonly used"),
    ("abababababab", "repeats"),
    ("alice.smith@example.com", "email"),
    ("alice.smith1987", "email"),
    ("my omnichat password", "service"),
    ("short", "8 to 256"),
])
def test_weak_passwords_are_refused_saying_why(client, settings, password, why):
    error = assert_error(signup(client, "alice.smith@example.com", password), 400, "weak_password")
    assert why in error["message"]
    with session_scope(settings.resolved_database_url) as db:
        assert db.scalar(select(User.id)) is None


def test_a_password_change_follows_the_same_rules(client):
    a = sign_up(client, "alice.smith@example.com")
    r = client.post("/api/auth/password", headers=a.headers, json={"current_password": PASSWORD,
                                                                    "new_password": "12345678"})
    assert_error(r, 400, "weak_password")


def test_the_shipped_list_holds_the_commonest_passwords():
    common = password_rules.common_passwords()
    assert {"password", "12345678", "iloveyou", "sunshine", "qwertyuiop"} <= common
    assert all(len(p) >= passwords.MIN_LENGTH and p == p.lower() for p in common)


def test_signups_are_throttled_per_address(app, client, settings):
    crowd = at(app, "203.0.113.77")
    for i in range(settings.signup_max_per_address):
        assert signup(crowd, f"user{i}@example.com").status_code == 202
    r = signup(crowd, "one-more@example.com")
    assert_error(r, 429, "signup_throttled")
    assert 0 < int(r.headers["retry-after"]) <= 3600
    assert_error(signup(crowd, "user0@example.com"), 429, "signup_throttled")  # taken or not, alike
    assert signup(at(app, "203.0.113.78"), "elsewhere@example.com").status_code == 202


def test_when_every_hashing_slot_stays_busy_a_signup_answers_429(client, monkeypatch):
    monkeypatch.setattr(passwords, "WAIT_S", 0.01)
    held = [passwords._slots.acquire(timeout=5) for _ in range(passwords.MAX_CONCURRENT)]
    try:
        assert all(held)
        assert_error(signup(client, "busy@example.com"), 429, "server_busy")
    finally:
        for _ in held:
            passwords._slots.release()
    assert signup(client, "busy@example.com").status_code == 202


_CONCURRENT_HASHES = r"""
import json, resource, sys, threading
from omnichat.auth import passwords

if sys.argv[1] == "unbounded":  # what the bound prevents, for comparison
    passwords._slots = threading.BoundedSemaphore(100)
passwords.hash_password("warm up: imports, the first allocation")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = threading.Barrier(10)

def sign_up():
    start.wait()
    passwords.hash_password("correct horse battery")

threads = [threading.Thread(target=sign_up) for _ in range(10)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"grown_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def _peak_growth_mib(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _CONCURRENT_HASHES, mode], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    return float(json.loads(out.stdout.strip().splitlines()[-1])["grown_mib"])


def test_ten_concurrent_password_hashes_take_bounded_memory():
    """Real argon2id cost (64 MiB a hash), in a process of its own: ten sign-ups hashing at
    once raise its peak memory by about MAX_CONCURRENT hashes, not ten."""
    bounded = _peak_growth_mib("bounded")
    print(f"peak memory growth, 10 concurrent hashes: {bounded:.0f} MiB")
    assert bounded < (passwords.MAX_CONCURRENT + 1) * 64

"""Accounts, sessions, tokens, API keys, WebSocket tickets and sign-in throttling."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import jwt
import pytest
from sqlalchemy import select

from omnichat.auth import tickets
from omnichat.auth.principal import Principal
from omnichat.config import Settings, load_jwt_secret
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.models import ApiKey, User, WsTicket
from omnichat.errors import Unauthorized
from tests.helpers import PASSWORD, assert_error, set_policy, sign_up


def test_first_user_is_admin_and_later_users_are_users(client):
    first = sign_up(client, "first@example.com")
    second = sign_up(client, "second@example.com")
    assert (first.role, second.role) == ("admin", "user")
    me = client.get("/api/auth/me", headers=second.headers).json()
    assert me["email"] == "second@example.com" and me["role"] == "user"


def test_passwords_are_stored_as_argon2id_hashes(client, settings):
    sign_up(client, "a@example.com")
    with session_scope(settings.resolved_database_url) as db:
        stored = db.scalar(select(User.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_email_is_case_insensitive_and_a_duplicate_creates_nothing(client):
    sign_up(client, "Someone@Example.com")
    r = client.post("/api/auth/signup", json={"email": "someone@example.com", "password": PASSWORD})
    assert r.status_code == 202  # the same answer as for a new email (tests/test_signup_abuse.py)
    r = client.post("/api/auth/signin", json={"email": "SOMEONE@example.com", "password": PASSWORD})
    assert r.status_code == 200


@pytest.mark.parametrize("body, code", [
    ({"email": "not-an-email", "password": PASSWORD}, "invalid_email"),
    ({"email": "a@example.com", "password": "short"}, "weak_password"),
])
def test_signup_rejects_bad_email_and_weak_password(client, body, code):
    assert_error(client.post("/api/auth/signup", json=body), 400, code)


def test_signup_policy_approval_makes_pending_users(client):
    admin = sign_up(client, "admin@example.com")
    set_policy(client, admin, "approval")
    pending = sign_up(client, "wait@example.com")
    assert pending.role == "pending"
    assert client.get("/api/auth/me", headers=pending.headers).json()["role"] == "pending"
    assert_error(client.get("/api/chats", headers=pending.headers), 403, "account_pending")
    r = client.post(f"/api/admin/users/{pending.id}/approve", headers=admin.headers)
    assert r.json()["role"] == "user"
    assert client.get("/api/chats", headers=pending.headers).status_code == 200


def test_signup_policy_closed_refuses_new_accounts(client):
    admin = sign_up(client, "admin@example.com")
    set_policy(client, admin, "closed")
    r = client.post("/api/auth/signup", json={"email": "late@example.com", "password": PASSWORD})
    assert_error(r, 403, "signup_closed")


def test_signin_wrong_password_and_unknown_account_look_the_same(client):
    sign_up(client, "a@example.com")
    wrong = client.post("/api/auth/signin", json={"email": "a@example.com", "password": "wrong password"})
    unknown = client.post("/api/auth/signin", json={"email": "nobody@example.com", "password": "wrong password"})
    assert assert_error(wrong, 401, "invalid_credentials") == assert_error(unknown, 401, "invalid_credentials")


def test_signout_ends_only_that_session(client):
    sign_up(client, "a@example.com")
    other = client.post("/api/auth/signin", json={"email": "a@example.com", "password": PASSWORD}).json()
    this = client.post("/api/auth/signin", json={"email": "a@example.com", "password": PASSWORD}).json()
    h_this = {"authorization": f"Bearer {this['access_token']}"}
    h_other = {"authorization": f"Bearer {other['access_token']}"}
    assert client.post("/api/auth/signout", headers=h_this).status_code == 204
    assert_error(client.get("/api/auth/me", headers=h_this), 401, "session_ended")
    assert client.get("/api/auth/me", headers=h_other).status_code == 200


def test_password_change_ends_other_sessions(client):
    a = sign_up(client, "a@example.com")
    other = client.post("/api/auth/signin", json={"email": "a@example.com", "password": PASSWORD}).json()
    r = client.post("/api/auth/password", headers=a.headers,
                    json={"current_password": "wrong password", "new_password": "another password"})
    assert_error(r, 401, "invalid_credentials")
    r = client.post("/api/auth/password", headers=a.headers,
                    json={"current_password": PASSWORD, "new_password": "another password"})
    assert r.status_code == 204
    assert client.get("/api/auth/me", headers=a.headers).status_code == 200
    assert_error(client.get("/api/auth/me", headers={"authorization": f"Bearer {other['access_token']}"}), 401)
    signin = {"email": "a@example.com", "password": "another password"}
    assert client.post("/api/auth/signin", json=signin).status_code == 200


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_tampered_expired_and_unsigned_tokens_are_rejected(client, settings):
    a = sign_up(client, "a@example.com")
    header, payload, signature = a.token.split(".")
    claims = jwt.decode(a.token, options={"verify_signature": False})
    forged = ".".join([header, _b64({**claims, "sub": "someone-else"}), signature])
    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), payload, ""])
    other_secret = jwt.encode(claims, "not-the-server-secret-" + "y" * 32, algorithm="HS256")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, settings.jwt_secret, algorithm="HS256")
    for token, code in [(forged, "invalid_token"), (unsigned, "invalid_token"), (other_secret, "invalid_token"),
                        (expired, "token_expired"), ("garbage", "invalid_token")]:
        assert_error(client.get("/api/auth/me", headers={"authorization": f"Bearer {token}"}), 401, code)


def test_api_keys_are_shown_once_stored_hashed_and_revocable(client, settings):
    a = sign_up(client, "a@example.com")
    created = client.post("/api/keys", json={"name": "laptop"}, headers=a.headers)
    assert created.status_code == 201
    key = created.json()["key"]
    listed = client.get("/api/keys", headers=a.headers).json()
    assert [k["name"] for k in listed] == ["laptop"] and "key" not in listed[0]
    with session_scope(settings.resolved_database_url) as db:
        assert key not in db.scalar(select(ApiKey.key_hash))
    key_headers = {"authorization": f"Bearer {key}"}
    assert client.get("/api/chats", headers=key_headers).status_code == 200
    # A key cannot mint keys or manage them: a leaked key does not spread.
    assert_error(client.post("/api/keys", json={"name": "x"}, headers=key_headers), 403, "session_required")
    assert client.delete(f"/api/keys/{created.json()['id']}", headers=a.headers).status_code == 204
    assert_error(client.get("/api/chats", headers=key_headers), 401, "invalid_api_key")
    assert client.get("/api/keys", headers=a.headers).json() == []


def test_a_deleted_user_is_rejected_at_once(client):
    admin = sign_up(client, "admin@example.com")
    a = sign_up(client, "a@example.com")
    key = client.post("/api/keys", json={"name": "k"}, headers=a.headers).json()["key"]
    assert client.delete(f"/api/admin/users/{a.id}", headers=admin.headers).status_code == 204
    assert_error(client.get("/api/auth/me", headers=a.headers), 401)
    assert_error(client.get("/api/chats", headers={"authorization": f"Bearer {key}"}), 401)


def test_ws_tickets_are_single_use_hashed_and_short_lived(client, settings):
    a = sign_up(client, "a@example.com")
    r = client.post("/api/auth/ws-ticket", headers=a.headers)
    assert r.status_code == 200 and 0 < r.json()["expires_in"] <= 60
    ticket = r.json()["ticket"]
    url = settings.resolved_database_url
    with session_scope(url) as db:
        assert db.scalar(select(WsTicket.ticket_hash)) != ticket
    principal = tickets.redeem(url, ticket)  # what the authorizer does
    assert principal.user_id == a.id and principal.role == "admin"
    with pytest.raises(Unauthorized):
        tickets.redeem(url, ticket)


def test_expired_ws_ticket_is_refused(client, settings):
    a = sign_up(client, "a@example.com")
    url = settings.resolved_database_url
    ticket, _ = lite.run(url, lambda db: tickets.issue(db, settings.with_overrides(ws_ticket_ttl_s=-1),
                                                        Principal(a.id, a.email, "admin")))
    with pytest.raises(Unauthorized):
        tickets.redeem(url, ticket)


def test_last_admin_cannot_be_demoted_or_deleted(client):
    admin = sign_up(client, "admin@example.com")
    assert_error(client.patch(f"/api/admin/users/{admin.id}", json={"role": "user"}, headers=admin.headers),
                 409, "last_admin")
    assert_error(client.delete(f"/api/admin/users/{admin.id}", headers=admin.headers), 409, "last_admin")


def test_admin_lists_and_changes_roles(client):
    admin = sign_up(client, "admin@example.com")
    a = sign_up(client, "a@example.com")
    users = client.get("/api/admin/users", headers=admin.headers).json()
    assert [u["email"] for u in users] == ["admin@example.com", "a@example.com"]
    promoted = client.patch(f"/api/admin/users/{a.id}", json={"role": "admin"}, headers=admin.headers)
    assert promoted.json()["role"] == "admin"
    assert_error(client.patch(f"/api/admin/users/{a.id}", json={"role": "root"}, headers=admin.headers), 422)


def test_production_refuses_to_run_without_a_configured_secret(tmp_path):
    with pytest.raises(RuntimeError, match="OMNICHAT_JWT_SECRET"):
        load_jwt_secret(Settings(environment="aws", home=tmp_path))


def test_local_mode_generates_a_private_secret_once(tmp_path):
    settings = Settings(home=tmp_path)
    first = load_jwt_secret(settings)
    assert len(first) >= 40 and load_jwt_secret(settings) == first
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_processes_starting_together_share_one_local_secret(tmp_path):
    """`make local` runs several processes that may each be first to need the secret."""
    code = ("import sys, time; from omnichat.config import Settings, load_jwt_secret; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "
            "print(load_jwt_secret(Settings(home=__import__('pathlib').Path(sys.argv[1]))))")
    start = time.time() + 1.5  # all import first, then race for the file at once
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    secrets_read = {out.strip() for out, _ in outputs}
    assert len(secrets_read) == 1 and len(secrets_read.pop()) >= 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jwt_secret"]  # no drafts left behind

"""GET /api/auth/options: what the sign-in and sign-up pages show before anyone signs in
(issue 19 item 12), and the chat list keeping its order when a chat is renamed (item 13)."""

from __future__ import annotations

from tests.helpers import set_policy, sign_up

NO_SSO = {"password_signin": True, "sso": None}  # single sign-on is not configured here (tests/test_sso.py)


def test_a_new_server_says_sign_up_is_open_and_has_no_admin(client):
    r = client.get("/api/auth/options")
    assert r.status_code == 200
    assert r.json() == {"signup": "open", "has_admin": False, **NO_SSO}


def test_a_closed_server_with_an_admin_says_so_and_nothing_more(client):
    admin = sign_up(client, "admin@example.com")
    assert client.get("/api/auth/options").json() == {"signup": "open", "has_admin": True, **NO_SSO}
    set_policy(client, admin, "approval")
    assert client.get("/api/auth/options").json() == {"signup": "approval", "has_admin": True, **NO_SSO}
    set_policy(client, admin, "closed")
    assert client.get("/api/auth/options").json() == {"signup": "closed", "has_admin": True, **NO_SSO}
    # A sign-up then fails as announced.
    r = client.post("/api/auth/signup", json={"email": "late@example.com", "password": "a long enough secret"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "signup_closed"


def test_renaming_pinning_or_archiving_keeps_a_chats_place_in_the_list(client):
    user = sign_up(client, "u@example.com")
    ids = [client.post("/api/chats", json={"title": f"chat {i}"}, headers=user.headers).json()["id"] for i in range(3)]
    before = [c["id"] for c in client.get("/api/chats", headers=user.headers).json()["chats"]]
    assert before == ids[::-1]
    chat = client.get(f"/api/chats/{ids[0]}", headers=user.headers).json()["chat"]
    renamed = client.patch(f"/api/chats/{ids[0]}", json={"title": "renamed"}, headers=user.headers).json()
    assert renamed["title"] == "renamed" and renamed["updated_at"] == chat["updated_at"]
    assert [c["id"] for c in client.get("/api/chats", headers=user.headers).json()["chats"]] == before

"""Share links over REST: the admin setting, a snapshot of the current branch, revoking,
the public read without sign-in, what it does not reveal, and cascades."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from omnichat.db import engine as db_engine
from tests.helpers import assert_error, sign_up


@pytest.fixture
def admin(client):
    return sign_up(client, "admin@example.com")  # the first account is the admin


@pytest.fixture
def alice(client, admin):
    return sign_up(client, "alice@example.com", name="Alice Secret")


def allow_sharing(client, admin, on=True):
    r = client.put("/api/admin/settings", json={"sharing_enabled": on}, headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.json()


def chat_with(client, who, *contents):
    chat = client.post("/api/chats", json={"title": "Plans", "system_prompt": "private prompt"},
                       headers=who.headers).json()
    ids = []
    for content in contents:
        r = client.post(f"/api/chats/{chat['id']}/messages", json={"content": content}, headers=who.headers)
        ids.append(r.json()["id"])
    return chat["id"], ids


def share(client, who, chat_id):
    r = client.post(f"/api/chats/{chat_id}/shares", headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_sharing_is_off_by_default_and_the_setting_is_audited(client, admin, alice):
    settings = client.get("/api/admin/settings", headers=admin.headers).json()
    assert settings == {"signup_policy": "open", "sharing_enabled": False, "share_links_public": True}
    chat_id, _ = chat_with(client, alice, "hello")
    assert_error(client.post(f"/api/chats/{chat_id}/shares", headers=alice.headers), 403, "sharing_disabled")
    # A partial update keeps the other setting.
    assert allow_sharing(client, admin) == {"signup_policy": "open", "sharing_enabled": True,
                                            "share_links_public": True}
    entries = client.get("/api/admin/audit", params={"action": "settings."}, headers=admin.headers).json()
    assert any(e["details"].get("sharing_enabled") == {"from": False, "to": True} for e in entries["entries"])


def test_a_link_shows_a_snapshot_without_sign_in_and_without_the_owner(client, admin, alice):
    allow_sharing(client, admin)
    chat_id, (first, _) = chat_with(client, alice, "first question", "second question")
    made = share(client, alice, chat_id)
    assert made["title"] == "Plans" and made["message_count"] == 2 and made["token"].startswith(made["prefix"])
    # Later changes (an edit makes a new branch, a new message) do not reach the link.
    client.post(f"/api/chats/{chat_id}/messages/{first}/edit", json={"content": "edited"}, headers=alice.headers)
    client.patch(f"/api/chats/{chat_id}", json={"title": "Renamed"}, headers=alice.headers)
    r = client.get(f"/api/shared/{made['token']}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["title"] == "Plans"
    assert [(m["role"], m["content"]) for m in body["messages"]] == [("user", "first question"),
                                                                    ("user", "second question")]
    for secret in ("alice@example.com", "Alice Secret", alice.id, chat_id, first, made["id"], "private prompt"):
        assert secret not in r.text


def test_links_for_accounts_only_ask_anyone_else_to_sign_in(client, admin, alice):
    """The admin setting `share_links_public` off: the link opens for approved accounts of
    this server only; no one else learns whether the link exists."""
    allow_sharing(client, admin)
    chat_id, _ = chat_with(client, alice, "for colleagues")
    token = share(client, alice, chat_id)["token"]
    r = client.put("/api/admin/settings", json={"share_links_public": False}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["share_links_public"] is False
    assert_error(client.get(f"/api/shared/{token}"), 401, "sign_in_required")
    assert_error(client.get("/api/shared/nothing-at-all"), 401, "sign_in_required")  # no oracle
    bob = sign_up(client, "bob@example.com")
    assert client.get(f"/api/shared/{token}", headers=bob.headers).json()["messages"][0]["content"] == "for colleagues"
    assert_error(client.get("/api/shared/nothing-at-all", headers=bob.headers), 404, "share_not_found")
    r = client.put("/api/admin/settings", json={"signup_policy": "approval"}, headers=admin.headers)
    assert r.status_code == 200
    waiting = sign_up(client, "waiting@example.com")
    assert_error(client.get(f"/api/shared/{token}", headers=waiting.headers), 403, "account_pending")
    client.put("/api/admin/settings", json={"share_links_public": True}, headers=admin.headers)
    assert client.get(f"/api/shared/{token}").status_code == 200


def test_listing_revoking_and_the_setting_turned_off_answer_404(client, admin, alice):
    allow_sharing(client, admin)
    chat_id, _ = chat_with(client, alice, "hi")
    one, two = share(client, alice, chat_id), share(client, alice, chat_id)
    assert [s["id"] for s in client.get("/api/shares", headers=alice.headers).json()] == [two["id"], one["id"]]
    listed = client.get(f"/api/chats/{chat_id}/shares", headers=alice.headers).json()
    assert "token" not in listed[0] and {s["id"] for s in listed} == {one["id"], two["id"]}
    assert client.delete(f"/api/shares/{one['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/shared/{one['token']}"), 404, "share_not_found")
    assert client.get(f"/api/shared/{two['token']}").status_code == 200
    allow_sharing(client, admin, on=False)
    assert_error(client.get(f"/api/shared/{two['token']}"), 404, "share_not_found")
    allow_sharing(client, admin, on=True)  # back on: the link was kept, not deleted
    assert client.get(f"/api/shared/{two['token']}").status_code == 200


def test_another_users_links_do_not_exist_for_you(client, admin, alice):
    allow_sharing(client, admin)
    bob = sign_up(client, "bob@example.com")
    chat_id, _ = chat_with(client, alice, "mine")
    made = share(client, alice, chat_id)
    assert_error(client.post(f"/api/chats/{chat_id}/shares", headers=bob.headers), 404, "chat_not_found")
    assert_error(client.delete(f"/api/shares/{made['id']}", headers=bob.headers), 404, "share_not_found")
    assert client.get("/api/shares", headers=bob.headers).json() == []
    assert client.get(f"/api/shared/{made['token']}").status_code == 200


@pytest.mark.parametrize("token", ["nothing", "x" * 101, "%00", "a" * 43])
def test_a_made_up_token_is_a_clear_404_or_400(client, admin, alice, token):
    allow_sharing(client, admin)
    r = client.get(f"/api/shared/{token}")
    assert r.status_code in (400, 404, 422) and r.json()["error"]["code"]


def test_bad_settings_are_refused_and_change_nothing(client, admin):
    for body in ({"sharing_enabled": "yes"}, {"sharing_enabled": None, "extra": 1}, {"signup_policy": "maybe"}):
        r = client.put("/api/admin/settings", json=body, headers=admin.headers)
        assert 400 <= r.status_code < 500 and r.json()["error"]["code"], r.text
    assert client.get("/api/admin/settings", headers=admin.headers).json()["sharing_enabled"] is False


def test_deleting_the_chat_or_the_user_deletes_the_links(client, admin, alice, db_url):
    allow_sharing(client, admin)
    chat_id, _ = chat_with(client, alice, "a")
    gone = share(client, alice, chat_id)
    other_chat, _ = chat_with(client, alice, "b")
    share(client, alice, other_chat)
    assert client.delete(f"/api/chats/{chat_id}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/shared/{gone['token']}"), 404, "share_not_found")
    assert len(client.get("/api/shares", headers=alice.headers).json()) == 1
    assert client.delete(f"/api/admin/users/{alice.id}", headers=admin.headers).status_code == 204
    with db_engine.session_scope(db_url) as s:
        assert s.execute(text("SELECT COUNT(*) FROM chat_shares")).scalar() == 0

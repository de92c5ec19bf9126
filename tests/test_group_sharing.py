"""Sharing with groups: a model whose visibility is `groups` and a global preset shared
with groups are usable by the members of those groups (and admins) only, through a
session and an API key alike; a membership removed or a group deleted takes effect at
the next request; bad group ids are refused and change nothing."""

from __future__ import annotations

import pytest

from omnichat.auth import standing
from omnichat.auth.principal import Principal
from omnichat.db import lite
from tests.helpers import assert_error, sign_up
from tests.test_presets_api import TEST_MODEL, picker, preset

LIVE_PROVIDERS = True  # `app` talks to the local Ollama and the Bedrock emulator (tests/conftest.py)


@pytest.fixture
def people(client):
    return sign_up(client, "admin@example.com"), sign_up(client, "user@example.com"), sign_up(client, "eve@example.com")


def _group(client, admin, name, *members) -> str:
    gid = client.post("/api/admin/groups", json={"name": name}, headers=admin.headers).json()["id"]
    for member in members:
        assert client.post(f"/api/admin/groups/{gid}/members", json={"user_id": member.id},
                           headers=admin.headers).status_code == 204
    return gid


def test_a_model_visible_to_groups(client, people, db_url):
    admin, user, eve = people
    gid = _group(client, admin, "research", user)
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "groups", "groups": [gid]},
                     headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["groups"] == [gid]
    assert TEST_MODEL in picker(client, user) and TEST_MODEL not in picker(client, eve)
    assert picker(client, admin)[TEST_MODEL]["groups"] == [gid]
    key = client.post("/api/keys", json={"name": "k"}, headers=user.headers).json()["key"]
    listed = client.get("/api/models", headers={"authorization": f"Bearer {key}"}).json()["models"]
    assert TEST_MODEL in {m["id"] for m in listed}
    # The WebSocket's per-frame check reads the groups too.
    now = lite.run(db_url, lambda db: standing.current(db, Principal(user.id, user.email, "user",
                                                                     session_id=_session_of(db, user.id))))
    assert now.groups == {gid}
    # Removed from the group: at once, no longer usable.
    client.delete(f"/api/admin/groups/{gid}/members/{user.id}", headers=admin.headers)
    assert TEST_MODEL not in picker(client, user)


def _session_of(db, user_id: str) -> str:
    return db.execute("SELECT id FROM sessions WHERE user_id = ?", user_id).fetchone()[0]


def test_bad_model_groups_are_refused_and_change_nothing(client, people):
    admin, user, _ = people
    gid = _group(client, admin, "ops", user)
    assert_error(client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "groups", "groups": ["nope"]},
                              headers=admin.headers), 400, "group_not_found")
    assert_error(client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "admins", "groups": [gid]},
                              headers=admin.headers), 400, "invalid_groups")
    assert picker(client, admin)[TEST_MODEL]["visibility"] == "everyone"
    # Back to everyone: the groups go with the visibility.
    client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "groups", "groups": [gid]}, headers=admin.headers)
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "everyone"}, headers=admin.headers)
    assert r.json()["groups"] == []


def test_a_global_preset_shared_with_groups(client, people):
    admin, user, eve = people
    gid = _group(client, admin, "pirates", user)
    r = client.post("/api/admin/presets", json=preset("crew", visibility="groups", groups=[gid]),
                    headers=admin.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["groups"] == [gid]
    assert "preset/crew" in picker(client, user) and "preset/crew" not in picker(client, eve)
    # Bad input: unknown group, groups without visibility groups; nothing changes.
    error = assert_error(client.patch(f"/api/admin/presets/{made['id']}", json={"groups": ["nope"]},
                                      headers=admin.headers), 400, "invalid_preset")
    assert error["details"]["field"] == "groups"
    error = assert_error(client.post("/api/admin/presets", json=preset("x", groups=[gid]), headers=admin.headers),
                         400, "invalid_preset")
    assert error["details"]["field"] == "groups"
    assert client.get(f"/api/admin/presets/{made['id']}", headers=admin.headers).json()["groups"] == [gid]
    # Shared with everyone instead: the named groups go; the group deleted: gone from the preset too.
    r = client.patch(f"/api/admin/presets/{made['id']}", json={"visibility": "everyone"}, headers=admin.headers)
    assert r.json()["groups"] == [] and "preset/crew" in picker(client, eve)
    client.patch(f"/api/admin/presets/{made['id']}", json={"visibility": "groups", "groups": [gid]},
                 headers=admin.headers)
    assert client.delete(f"/api/admin/groups/{gid}", headers=admin.headers).status_code == 204
    assert client.get(f"/api/admin/presets/{made['id']}", headers=admin.headers).json()["groups"] == []
    assert "preset/crew" not in picker(client, user)

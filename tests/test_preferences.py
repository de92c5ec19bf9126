"""A person's own preferences over REST: defaults, partial updates, refusals, and nothing
left behind when the account is deleted."""

from __future__ import annotations

from typing import get_args

from omnichat import settings_store
from omnichat.api import schemas
from omnichat.auth import preferences
from omnichat.db import lite
from tests.helpers import assert_error, sign_up

DEFAULTS = {"default_model": None, "theme": None, "send_on_enter": True, "system_prompt": None, "avatar": None}


def test_preferences_start_as_defaults_and_change_one_at_a_time(client):
    me = sign_up(client, "prefs@example.com")
    assert client.get("/api/auth/preferences", headers=me.headers).json() == DEFAULTS
    r = client.patch("/api/auth/preferences", json={"theme": "dark", "default_model": "ollama/x:1b"},
                     headers=me.headers)
    assert r.status_code == 200 and r.json() == {**DEFAULTS, "theme": "dark", "default_model": "ollama/x:1b"}
    r = client.patch("/api/auth/preferences", json={"send_on_enter": False, "system_prompt": "Be brief."},
                     headers=me.headers)
    assert r.json() == {"default_model": "ollama/x:1b", "theme": "dark", "send_on_enter": False,
                        "system_prompt": "Be brief.", "avatar": None}
    other = sign_up(client, "other-prefs@example.com")
    assert client.get("/api/auth/preferences", headers=other.headers).json() == DEFAULTS  # per person


def test_bad_preferences_are_refused_and_change_nothing(client):
    me = sign_up(client, "picky@example.com")
    for body in ({"theme": "blue"}, {"send_on_enter": None}, {"send_on_enter": "yes"}, {"colour": "red"},
                 {"theme": None}, {"system_prompt": "x" * 20_001}):
        assert_error(client.patch("/api/auth/preferences", json=body, headers=me.headers), 422)
    assert client.get("/api/auth/preferences", headers=me.headers).json() == DEFAULTS
    r = client.patch("/api/auth/preferences", json={"default_model": "no-such-model"}, headers=me.headers)
    assert_error(r, 404, "model_not_found")


def test_saved_junk_reads_as_defaults_and_a_deleted_account_leaves_nothing(client, db_url):
    admin = sign_up(client, "boss@example.com")
    me = sign_up(client, "leaving@example.com")
    lite.run(db_url, lambda db: settings_store.set_value(db, preferences.KEY_PREFIX + me.id, ["not", "a", "dict"]))
    assert client.get("/api/auth/preferences", headers=me.headers).json() == DEFAULTS
    client.patch("/api/auth/preferences", json={"theme": "light"}, headers=me.headers)
    assert client.delete(f"/api/admin/users/{me.id}", headers=admin.headers).status_code == 204
    left = lite.run(db_url, lambda db: settings_store.values_under(db, preferences.KEY_PREFIX))
    assert me.id not in left


def test_the_name_changes_trimmed_and_bad_names_are_refused(client):
    me = sign_up(client, "renamer@example.com", name="Old Name")
    r = client.patch("/api/auth/me", json={"name": "  Ada Lovelace  "}, headers=me.headers)
    assert r.status_code == 200 and r.json()["name"] == "Ada Lovelace"
    for body in ({"name": None}, {"name": "x" * 201}, {"name": 7}, {"email": "new@example.com"}):
        assert_error(client.patch("/api/auth/me", json=body, headers=me.headers), 422)
    me_now = client.get("/api/auth/me", headers=me.headers).json()
    assert (me_now["name"], me_now["email"]) == ("Ada Lovelace", "renamer@example.com")


def test_the_avatar_is_a_colour_or_an_emoji_from_the_fixed_lists(client):
    me = sign_up(client, "avatar@example.com")
    for choice in ("teal", "🦊", None):
        r = client.patch("/api/auth/preferences", json={"avatar": choice}, headers=me.headers)
        assert r.status_code == 200 and r.json() == {**DEFAULTS, "avatar": choice}
    client.patch("/api/auth/preferences", json={"avatar": "purple"}, headers=me.headers)
    for bad in ("chartreuse", "Teal", "#ff0000", "🦊🦊", "a", "", " 🦊", "x" * 10_000, "<img src=x>", 7, True,
                ["red"], {"colour": "red"}):
        assert_error(client.patch("/api/auth/preferences", json={"avatar": bad}, headers=me.headers), 422)
    nul = client.patch("/api/auth/preferences", json={"avatar": "\u0000"}, headers=me.headers)
    assert_error(nul, 400, "invalid_json")
    assert client.get("/api/auth/preferences", headers=me.headers).json()["avatar"] == "purple"
    # The API's list and the one the preferences module documents are the same.
    assert set(get_args(schemas.Avatar)) == set(preferences.AVATAR_COLOURS + preferences.AVATAR_EMOJI)

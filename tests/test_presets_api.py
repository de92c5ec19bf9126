"""Presets over REST (`/api/presets`, `/api/admin/presets`) against the deterministic local
Ollama and the Bedrock emulator: validation (nothing saved half-way), scopes and slugs,
visibility, the picker's listing, and a base model disabled after the preset was saved."""

from __future__ import annotations

import pytest

from omnichat.catalog import catalog
from omnichat.db import lite
from tests.helpers import assert_error, sign_up

TEST_MODEL = "ollama/omnichat-test:latest"
BEDROCK_MODEL = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"
LIVE_PROVIDERS = True  # `app` talks to the local Ollama and the Bedrock emulator (tests/conftest.py)


@pytest.fixture
def people(client):
    return sign_up(client, "admin@example.com"), sign_up(client, "user@example.com"), sign_up(client, "eve@example.com")


def preset(slug: str = "pirate", **fields):
    return {"slug": slug, "name": fields.pop("name", "Pirate"), "base_model": fields.pop("base_model", TEST_MODEL),
            **fields}


def picker(client, who) -> dict[str, dict]:
    r = client.get("/api/models", headers=who.headers)
    assert r.status_code == 200, r.text
    return {m["id"]: m for m in r.json()["models"]}


def count_presets(db_url: str) -> int:
    return lite.run(db_url, lambda db: db.execute("SELECT count(*) FROM presets").fetchone()[0])


def test_a_user_makes_lists_changes_and_deletes_their_own(client, people):
    _, user, _ = people
    body = preset(description="Talks like a pirate", system_prompt="Answer like a pirate.",
                  params={"temperature": 0.4, "max_tokens": 50}, fallbacks=[BEDROCK_MODEL])
    r = client.post("/api/presets", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["model_id"], made["scope"], made["visibility"], made["usable"]) == (
        "preset/pirate", "personal", "private", True)
    assert made["params"] == {"temperature": 0.4, "max_tokens": 50} and made["fallbacks"] == [BEDROCK_MODEL]

    entry = picker(client, user)["preset/pirate"]
    assert (entry["provider"], entry["display_name"], entry["details"]["base_model"]) == (
        "preset", "Pirate", TEST_MODEL)

    r = client.patch(f"/api/presets/{made['id']}", json={"name": "Captain", "params": None},
                     headers=user.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["params"], r.json()["system_prompt"]) == (
        "Captain", {}, "Answer like a pirate.")
    assert [p["name"] for p in client.get("/api/presets", headers=user.headers).json()] == ["Captain"]
    assert client.delete(f"/api/presets/{made['id']}", headers=user.headers).status_code == 204
    assert "preset/pirate" not in picker(client, user)


@pytest.mark.parametrize("fields, field", [
    ({"slug": "Bad Slug"}, "slug"),
    ({"base_model": "ollama/no-such-model:1b"}, "base_model"),
    ({"base_model": "preset/other"}, "base_model"),
    ({"base_model": "nowhere/x"}, "base_model"),
    ({"name": "   "}, "name"),
    ({"fallbacks": ["ollama/no-such-model:1b"]}, "fallbacks"),
    ({"fallbacks": ["preset/pirate"]}, "fallbacks"),
    ({"visibility": "everyone"}, "visibility"),  # a user's own preset is private
])
def test_bad_input_is_refused_with_the_field_and_nothing_saved(client, people, db_url, fields, field):
    _, user, _ = people
    error = assert_error(client.post("/api/presets", json={**preset(), **fields}, headers=user.headers), 400)
    assert error["details"]["field"] == field, error
    assert count_presets(db_url) == 0


def test_bad_params_and_unknown_fields_are_refused(client, people, db_url):
    _, user, _ = people
    assert_error(client.post("/api/presets", json=preset(params={"temperature": 9}), headers=user.headers), 400,
                 "invalid_params")
    assert_error(client.post("/api/presets", json={**preset(), "sytem_prompt": "typo"}, headers=user.headers), 422)
    assert count_presets(db_url) == 0


def test_a_disabled_base_is_refused_at_save_and_a_later_disable_is_a_clear_error_at_use(client, people, db_url):
    admin, user, _ = people
    made = client.post("/api/presets", json=preset(), headers=user.headers).json()
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"enabled": False}, headers=admin.headers)
    assert r.status_code == 200, r.text

    shown = client.get(f"/api/presets/{made['id']}", headers=user.headers).json()
    assert shown["usable"] is False and TEST_MODEL in shown["problem"]
    assert "preset/pirate" not in picker(client, user)
    from omnichat.auth.principal import Principal

    principal = Principal(user_id=user.id, email=user.email, role="user")
    with pytest.raises(catalog.ModelNotAvailable, match="base model 'ollama/omnichat-test:latest' is disabled"):
        lite.run(db_url, lambda db: catalog.resolve(db, client.app.state.settings, principal, "preset/pirate"))

    error = assert_error(client.post("/api/presets", json=preset("second"), headers=user.headers), 400,
                         "invalid_preset")
    assert error["details"]["field"] == "base_model" and "disabled" in error["message"]
    assert count_presets(db_url) == 1


def test_scopes_are_separate_and_another_users_preset_is_not_found(client, people):
    admin, user, eve = people
    mine = client.post("/api/presets", json=preset(), headers=user.headers).json()
    for method, body in (("GET", None), ("PATCH", {"name": "stolen"}), ("DELETE", None)):
        r = client.request(method, f"/api/presets/{mine['id']}", headers=eve.headers,
                           **({"json": body} if body else {}))
        assert_error(r, 404, "preset_not_found")
        # An admin's own scope is their own too; the global scope holds no personal presets.
        assert_error(client.request(method, f"/api/admin/presets/{mine['id']}", headers=admin.headers,
                                    **({"json": body} if body else {})), 404, "preset_not_found")
    assert "preset/pirate" not in picker(client, eve)
    # Eve may use the same slug for her own.
    assert client.post("/api/presets", json=preset(), headers=eve.headers).status_code == 201
    assert client.get(f"/api/presets/{mine['id']}", headers=user.headers).json()["name"] == "Pirate"


def test_global_presets_follow_their_visibility(client, people):
    admin, user, eve = people
    for slug, visibility, users in (("all", "everyone", None), ("staff", "admins", None),
                                    ("chosen", "users", [user.id])):
        r = client.post("/api/admin/presets", json=preset(slug, visibility=visibility, users=users),
                        headers=admin.headers)
        assert r.status_code == 201, r.text
    assert {"preset/all", "preset/chosen"} <= set(picker(client, user)) and "preset/staff" not in picker(client, user)
    assert "preset/all" in picker(client, eve) and not {"preset/staff", "preset/chosen"} & set(picker(client, eve))
    assert {"preset/all", "preset/staff", "preset/chosen"} <= set(picker(client, admin))
    listed = {p["slug"]: p for p in client.get("/api/admin/presets", headers=admin.headers).json()}
    assert listed["chosen"]["users"] == [user.id] and listed["all"]["scope"] == "global"

    error = assert_error(client.post("/api/admin/presets", json=preset("x", visibility="users", users=["nobody"]),
                                     headers=admin.headers), 400, "invalid_preset")
    assert error["details"]["field"] == "users"
    assert_error(client.post("/api/admin/presets", json=preset("x", visibility="private"), headers=admin.headers),
                 400, "invalid_preset")


def test_slugs_are_unique_per_scope_and_a_user_cannot_take_a_visible_global_one(client, people):
    admin, user, eve = people
    assert client.post("/api/admin/presets", json=preset("shared"), headers=admin.headers).status_code == 201
    assert_error(client.post("/api/admin/presets", json=preset("shared"), headers=admin.headers), 409,
                 "preset_slug_taken")
    assert_error(client.post("/api/presets", json=preset("shared"), headers=user.headers), 409, "preset_slug_taken")
    assert client.post("/api/presets", json=preset("mine"), headers=user.headers).status_code == 201
    assert_error(client.post("/api/presets", json=preset("mine"), headers=user.headers), 409, "preset_slug_taken")
    # A global preset the user cannot see does not block the slug; an admin's later global
    # preset of the same slug does not change which one `preset/<slug>` names for that user.
    assert client.post("/api/admin/presets", json=preset("hidden", visibility="admins"),
                       headers=admin.headers).status_code == 201
    assert client.post("/api/presets", json=preset("hidden", name="Eve's"), headers=eve.headers).status_code == 201
    r = client.post("/api/admin/presets", json=preset("mine", name="Global mine"), headers=admin.headers)
    assert r.status_code == 201, r.text
    assert picker(client, user)["preset/mine"]["details"]["scope"] == "personal"
    assert picker(client, eve)["preset/mine"]["display_name"] == "Global mine"
    assert picker(client, eve)["preset/hidden"]["display_name"] == "Eve's"


def test_resolution_merges_params_and_carries_the_system_prompt(client, people, db_url):
    admin, user, _ = people
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"params": {"temperature": 0.9, "top_p": 0.5}},
                     headers=admin.headers)
    assert r.status_code == 200, r.text
    client.post("/api/presets", json=preset(system_prompt="Be a pirate.", params={"temperature": 0.1}),
                headers=user.headers)
    from omnichat.auth.principal import Principal

    principal = Principal(user_id=user.id, email=user.email, role="user")
    model = lite.run(db_url, lambda db: catalog.resolve(db, client.app.state.settings, principal, "preset/pirate"))
    assert (model.id, model.provider, model.name, model.system) == (
        "preset/pirate", "ollama", "omnichat-test:latest", "Be a pirate.")
    assert model.settings.params == {"temperature": 0.1, "top_p": 0.5}


def test_a_refused_change_leaves_the_preset_as_it_was(client, people):
    admin, user, eve = people
    made = client.post("/api/admin/presets", headers=admin.headers,
                       json=preset(system_prompt="Arr.", visibility="users", users=[user.id])).json()
    for change in ({"fallbacks": ["ollama/no-such-model:1b"]}, {"base_model": "ollama/no-such-model:1b"},
                   {"users": [user.id, "nobody"]}, {"params": {"top_p": 0}}):
        r = client.patch(f"/api/admin/presets/{made['id']}", json={"name": "Changed", **change}, headers=admin.headers)
        assert r.status_code == 400, r.text
    now = client.get(f"/api/admin/presets/{made['id']}", headers=admin.headers).json()
    assert (now["name"], now["users"], now["fallbacks"], now["base_model"]) == ("Pirate", [user.id], [], TEST_MODEL)
    assert "preset/pirate" not in picker(client, eve)
    r = client.patch(f"/api/admin/presets/{made['id']}", json={"visibility": "everyone"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["users"] == [], r.text
    assert "preset/pirate" in picker(client, eve)


def test_deleting_a_user_takes_their_presets_and_their_name_on_shared_ones(client, people, db_url):
    admin, user, _ = people
    client.post("/api/presets", json=preset("own"), headers=user.headers)
    shared = client.post("/api/admin/presets", headers=admin.headers,
                         json=preset("shared", visibility="users", users=[user.id])).json()
    assert client.delete(f"/api/admin/users/{user.id}", headers=admin.headers).status_code == 204
    assert count_presets(db_url) == 1
    assert client.get(f"/api/admin/presets/{shared['id']}", headers=admin.headers).json()["users"] == []


def test_a_preset_is_named_by_its_slug_or_name_where_a_bare_model_name_is_taken(client, people):
    _, user, eve = people
    client.post("/api/presets", json=preset(name="Captain Hook"), headers=user.headers)
    for name in ("pirate", "captain hook"):
        r = client.post("/api/chats", json={"model": name}, headers=user.headers)
        assert r.status_code == 201 and r.json()["model"] == "preset/pirate", r.text
    assert_error(client.post("/api/chats", json={"model": "pirate"}, headers=eve.headers), 404, "model_not_found")
    client.post("/api/presets", json=preset("omnichat-test", name="Clash"), headers=user.headers)
    error = assert_error(client.post("/api/chats", json={"model": "omnichat-test"}, headers=user.headers), 400,
                         "ambiguous_model")
    assert TEST_MODEL in error["message"] and "preset/omnichat-test" in error["message"]


# ---- knowledge collections (docs/documents.md, "Presets bound to collections") ----------------
def make_collection(client, who, name: str) -> str:
    r = client.post("/api/collections", json={"name": name}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_preset_binds_collections_its_author_may_read(client, people, db_url):
    admin, user, eve = people
    own, other = make_collection(client, user, "Handbook"), make_collection(client, user, "Notes")
    eves = make_collection(client, eve, "Diary")
    r = client.post("/api/presets", json=preset(collections=[own, own]), headers=user.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["collections"] == [own]
    assert client.get(f"/api/presets/{made['id']}", headers=user.headers).json()["collections"] == [own]
    # Another's collection (or an unknown id) is not found, and nothing changes or is saved.
    for ids in ([eves], [own, "no-such-collection"]):
        error = assert_error(client.patch(f"/api/presets/{made['id']}", json={"collections": ids},
                                          headers=user.headers), 404, "collection_not_found")
        assert error["details"]["field"] == "collections"
    assert_error(client.post("/api/presets", json=preset("spy", collections=[eves]), headers=user.headers), 404,
                 "collection_not_found")
    assert count_presets(db_url) == 1
    # A change that leaves `collections` out keeps them; [] or null unbinds.
    r = client.patch(f"/api/presets/{made['id']}", json={"name": "Captain"}, headers=user.headers)
    assert r.json()["collections"] == [own]
    r = client.patch(f"/api/presets/{made['id']}", json={"collections": [other, own]}, headers=user.headers)
    assert r.json()["collections"] == sorted([own, other])
    assert client.patch(f"/api/presets/{made['id']}", json={"collections": []},
                        headers=user.headers).json()["collections"] == []
    # At most five.
    many = [make_collection(client, user, f"C{i}") for i in range(6)]
    assert client.patch(f"/api/presets/{made['id']}", json={"collections": many},
                        headers=user.headers).status_code == 422
    # An admin binds only collections they may read too (admins have no way into others').
    assert_error(client.post("/api/admin/presets", json=preset("shared", collections=[own]),
                             headers=admin.headers), 404, "collection_not_found")


def test_a_collection_shared_with_the_author_may_be_bound_and_deleting_it_unbinds(client, people, db_url):
    admin, user, eve = people
    crew = client.post("/api/admin/groups", json={"name": "crew"}, headers=admin.headers).json()["id"]
    for member in (admin, eve):
        assert client.post(f"/api/admin/groups/{crew}/members", json={"user_id": member.id},
                           headers=admin.headers).status_code == 204
    eves = make_collection(client, eve, "Manuals")
    assert client.put(f"/api/collections/{eves}/groups/{crew}", headers=eve.headers).status_code == 200
    r = client.post("/api/admin/presets", json=preset("helpdesk", collections=[eves]), headers=admin.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["collections"] == [eves]
    logged = client.get("/api/admin/audit", params={"action": "preset.created"}, headers=admin.headers).json()
    assert [e["details"]["collections"] for e in logged["entries"]] == [[eves]]
    # Eve deletes her collection: the preset keeps working, bound to nothing.
    assert client.delete(f"/api/collections/{eves}", headers=eve.headers).status_code == 204
    assert client.get(f"/api/admin/presets/{made['id']}", headers=admin.headers).json()["collections"] == []
    assert lite.run(db_url, lambda db: db.execute("SELECT count(*) FROM preset_collections").fetchone()[0]) == 0


def test_a_kept_binding_need_not_be_readable_by_the_next_editor(client, people, db_url):
    """Another admin edits a global preset bound to a collection only the first may read:
    saving other fields keeps the binding (it grants nothing new); users get it only where
    they may read it (the chat path, tests/ws/test_documents_chat.py)."""
    admin, user, eve = people
    mine = make_collection(client, admin, "Admin notes")
    made = client.post("/api/admin/presets", json=preset("ops", collections=[mine]), headers=admin.headers).json()
    assert client.patch(f"/api/admin/users/{user.id}", json={"role": "admin"}, headers=admin.headers).status_code == 200
    r = client.patch(f"/api/admin/presets/{made['id']}", json={"name": "Ops", "collections": [mine]},
                     headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["collections"] == [mine]
    # Deleting the preset takes its bindings.
    assert client.delete(f"/api/admin/presets/{made['id']}", headers=user.headers).status_code == 204
    assert lite.run(db_url, lambda db: db.execute("SELECT count(*) FROM preset_collections").fetchone()[0]) == 0

"""The model catalog over REST, against the local Ollama (deterministic model) and the
Bedrock emulator."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from omnichat.catalog import catalog
from tests.helpers import assert_error, sign_up

TEST_MODEL = "ollama/omnichat-test:latest"
LIVE_PROVIDERS = True  # `app` talks to the local Ollama and the Bedrock emulator (tests/conftest.py)


@pytest.fixture
def people(client):
    return sign_up(client, "admin@example.com"), sign_up(client, "user@example.com")


def ids(client, who, **params):
    r = client.get("/api/models", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["models"]]


def test_listing_merges_both_providers(client, people):
    admin, _ = people
    body = client.get("/api/models", headers=admin.headers).json()
    found = {m["id"]: m for m in body["models"]}
    assert TEST_MODEL in found and found[TEST_MODEL]["provider"] == "ollama"
    assert any(i.startswith("bedrock/") for i in found) and body["unavailable"] == {}


def test_admin_settings_hide_and_disable_models(client, people):
    admin, user = people
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "admins", "display_name": "Test"},
                     headers=admin.headers)
    assert r.status_code == 200 and r.json()["visibility"] == "admins"
    assert TEST_MODEL not in ids(client, user)
    admin_view = {m["id"]: m for m in client.get("/api/models", headers=admin.headers).json()["models"]}
    assert admin_view[TEST_MODEL]["display_name"] == "Test"
    client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "everyone", "enabled": False}, headers=admin.headers)
    assert TEST_MODEL not in ids(client, user)
    client.patch(f"/api/models/{TEST_MODEL}", json={"enabled": True}, headers=admin.headers)
    assert TEST_MODEL in ids(client, user)


def test_model_patch_validates(client, people):
    admin, _ = people
    assert_error(client.patch("/api/models/openai/gpt-4", json={"enabled": False}, headers=admin.headers),
                 404, "model_not_found")
    assert_error(client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "friends"}, headers=admin.headers), 422)


def test_pull_streams_progress_and_errors(client, people):
    admin, _ = people
    r = client.post("/api/models/pull", json={"model": "ollama/no-such-model:1b"}, headers=admin.headers)
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert r.status_code == 200 and lines[-1]["error"]["code"]
    assert_error(client.post("/api/models/pull", json={"model": "bedrock/x"}, headers=admin.headers), 400,
                 "invalid_model")


@pytest.mark.parametrize("model", ["ollama/../../etc", "ollama/a b", "ollama/x:", "ollama/:latest", "ollama/"])
def test_a_name_ollama_would_refuse_is_refused_and_nothing_is_audited(client, people, model):
    """Refused here in our words, not passed on for the model server to refuse in its own."""
    admin, _ = people
    error = assert_error(client.post("/api/models/pull", json={"model": model}, headers=admin.headers), 400,
                         "invalid_model")
    assert repr(model) in error["message"]
    assert_error(client.delete(f"/api/models/{quote(model, safe='')}", headers=admin.headers), 400, "invalid_model")
    entries = client.get("/api/admin/audit", headers=admin.headers).json()["entries"]
    assert not [e for e in entries if e["action"].startswith("model.")], entries


def test_delete_unknown_model_is_not_found(client, people):
    admin, _ = people
    assert_error(client.delete("/api/models/ollama/no-such-model:1b", headers=admin.headers), 404)


def test_one_provider_down_does_not_hide_the_other(client, people, live_settings, app):
    admin, _ = people
    app.state.settings = live_settings.with_overrides(ollama_host="http://127.0.0.1:1")
    catalog.invalidate_cache()
    body = client.get("/api/models", headers=admin.headers).json()
    assert "ollama" in body["unavailable"] and all(m["provider"] == "bedrock" for m in body["models"])


@pytest.mark.parametrize("field", ["enabled", "visibility"])
def test_a_null_setting_is_refused_and_never_stored(client, people, field):
    admin, user = people
    assert_error(client.patch(f"/api/models/{TEST_MODEL}", json={field: None}, headers=admin.headers),
                 422, "validation_error")
    assert TEST_MODEL in ids(client, user)
    saved = {m["id"]: m for m in client.get("/api/models", headers=admin.headers).json()["models"]}[TEST_MODEL]
    assert (saved["enabled"], saved["visibility"]) == (True, "everyone")


def test_model_defaults_follow_the_chat_params_rules(client, people):
    admin, _ = people
    for params in ({"max_tokens": 10 ** 12}, {"temperature": "hot"}, {"context_chars": "x"}, {"colour": 1}):
        assert_error(client.patch(f"/api/models/{TEST_MODEL}", json={"params": params}, headers=admin.headers),
                     400, "invalid_params")
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"params": {"temperature": 1, "context_chars": 5000}},
                     headers=admin.headers)
    assert r.status_code == 200 and r.json()["params"] == {"temperature": 1.0, "context_chars": 5000}


def test_settings_stored_with_bad_values_are_read_defensively(client, people, db_url, live_settings):
    """Saved by the version that took `{"enabled": null}`: the listings still answer, the
    model fails closed (hidden from users, shown disabled to admins, who can repair it)."""
    from fastapi.testclient import TestClient

    from omnichat import settings_store
    from omnichat.db import lite
    from omnichat.openai_compat.app import create_app as gateway_app

    admin, user = people
    with lite.transaction(db_url) as db:
        settings_store.set_value(db, catalog.KEY_PREFIX + TEST_MODEL, {
            "enabled": None, "visibility": None, "display_name": 7, "params": {"max_tokens": 10 ** 12}})
    shown = {m["id"]: m for m in client.get("/api/models", headers=admin.headers).json()["models"]}[TEST_MODEL]
    assert (shown["enabled"], shown["visibility"], shown["params"]) == (False, "admins", {})
    assert TEST_MODEL not in ids(client, user)
    with TestClient(gateway_app(live_settings)) as v1:
        r = v1.get("/v1/models", headers=admin.headers)
        assert r.status_code == 200 and r.json()["data"], r.text
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"enabled": True, "visibility": "everyone"},
                     headers=admin.headers)
    assert r.status_code == 200 and TEST_MODEL in ids(client, user)


def test_a_bare_model_name_is_its_full_id_where_it_names_one_model(client, people):
    """The names the page shows are accepted: `omnichat-test:latest`, `omnichat-test` (its
    implied tag) and the display name (any case); a chat keeps the full id."""
    admin, user = people
    client.patch(f"/api/models/{TEST_MODEL}", json={"display_name": "Echo Bot"}, headers=admin.headers)
    for name in ("omnichat-test:latest", "omnichat-test", "echo bot"):
        r = client.post("/api/chats", json={"model": name}, headers=user.headers)
        assert r.status_code == 201 and r.json()["model"] == TEST_MODEL, r.text
        r = client.patch(f"/api/chats/{r.json()['id']}", json={"model": name}, headers=user.headers)
        assert r.status_code == 200 and r.json()["model"] == TEST_MODEL, r.text
    names = {m["id"]: m["display_name"] for m in client.get("/api/models", headers=user.headers).json()["models"]}
    assert names[TEST_MODEL] == "Echo Bot"
    client.patch(f"/api/models/{TEST_MODEL}", json={"display_name": None}, headers=admin.headers)
    names = {m["id"]: m["display_name"] for m in client.get("/api/models", headers=user.headers).json()["models"]}
    assert names[TEST_MODEL] == "omnichat-test"  # Ollama's implied `:latest` is not part of the name


def test_an_ambiguous_or_unknown_bare_name_is_refused_clearly(client, people):
    admin, user = people
    bedrock = next(i for i in ids(client, admin) if i.startswith("bedrock/"))
    for model_id in (TEST_MODEL, bedrock):
        client.patch(f"/api/models/{model_id}", json={"display_name": "Twin"}, headers=admin.headers)
    r = client.post("/api/chats", json={"model": "Twin"}, headers=user.headers)
    assert_error(r, 400, "ambiguous_model")
    assert TEST_MODEL in r.json()["error"]["message"] and bedrock in r.json()["error"]["message"]
    # A model the user may not use is no candidate: the name is no longer ambiguous for them.
    client.patch(f"/api/models/{bedrock}", json={"visibility": "admins"}, headers=admin.headers)
    assert client.post("/api/chats", json={"model": "twin"}, headers=user.headers).json()["model"] == TEST_MODEL
    assert_error(client.post("/api/chats", json={"model": "twin"}, headers=admin.headers), 400, "ambiguous_model")
    r = client.post("/api/chats", json={"model": "no-such-model"}, headers=user.headers)
    assert_error(r, 404, "model_not_found")
    assert "no-such-model" in r.json()["error"]["message"]
    for model_id in (TEST_MODEL, bedrock):
        client.patch(f"/api/models/{model_id}", json={"display_name": None, "visibility": "everyone"},
                     headers=admin.headers)

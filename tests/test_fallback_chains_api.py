"""Fallback chains as the admin saves them over REST (PATCH /api/models/{id}), against
the local Ollama and the Bedrock emulator: a chain is checked whole (known, enabled
models; not itself; no cycle through other chains; bounded) and a refused PATCH saves
nothing, not even its other fields."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import assert_error, sign_up

HAIKU = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "bedrock/amazon.nova-micro-v1:0"
LITE = "bedrock/amazon.nova-lite-v1:0"
OLLAMA = "ollama/omnichat-test:latest"
LIVE_PROVIDERS = True  # `app` talks to the local Ollama and the Bedrock emulator (tests/conftest.py)


@pytest.fixture
def admin(client):
    return sign_up(client, "admin@example.com")  # the first account is the admin


def patch(client, admin, model_id, body):
    return client.patch(f"/api/models/{model_id}", json=body, headers=admin.headers)


def saved(client, admin, model_id):
    models = {m["id"]: m for m in client.get("/api/models", headers=admin.headers).json()["models"]}
    return models[model_id]


def test_a_chain_is_saved_listed_and_cleared(client, admin):
    r = patch(client, admin, HAIKU, {"fallbacks": [NOVA, OLLAMA]})
    assert r.status_code == 200, r.text
    assert r.json()["fallbacks"] == [NOVA, OLLAMA]
    assert saved(client, admin, HAIKU)["fallbacks"] == [NOVA, OLLAMA]
    assert patch(client, admin, HAIKU, {"fallbacks": None}).status_code == 200
    assert saved(client, admin, HAIKU)["fallbacks"] == []


@pytest.mark.parametrize("chain, says", [
    ([HAIKU], "itself"),
    (["bedrock/not-a-model-anywhere"], "not a known model"),
    (["openai/gpt-4"], "not a model id"),
    (["bedrock/"], "not a model id"),
    ([NOVA, NOVA], "twice"),
    ([NOVA, LITE, OLLAMA, "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"], "at most 3"),
])
def test_a_bad_chain_is_refused_and_nothing_is_saved(client, admin, chain, says):
    r = patch(client, admin, HAIKU, {"fallbacks": chain, "display_name": "Renamed"})
    body = assert_error(r, 400, "invalid_fallbacks")
    assert says in body["message"]
    after = saved(client, admin, HAIKU)
    assert after["fallbacks"] == [] and after["display_name"] != "Renamed"


def test_a_disabled_model_cannot_be_a_fallback(client, admin):
    assert patch(client, admin, NOVA, {"enabled": False}).status_code == 200
    assert "disabled" in assert_error(patch(client, admin, HAIKU, {"fallbacks": [NOVA]}), 400,
                                      "invalid_fallbacks")["message"]


def test_a_cycle_through_other_chains_is_refused(client, admin):
    assert patch(client, admin, HAIKU, {"fallbacks": [NOVA]}).status_code == 200
    assert patch(client, admin, NOVA, {"fallbacks": [LITE]}).status_code == 200
    r = patch(client, admin, LITE, {"fallbacks": [HAIKU], "visibility": "admins"})
    body = assert_error(r, 400, "fallback_cycle")
    assert body["details"]["cycle"] == [LITE, HAIKU, NOVA, LITE]
    assert f"{LITE} → {HAIKU} → {NOVA} → {LITE}" in body["message"]
    after = saved(client, admin, LITE)
    assert after["fallbacks"] == [] and after["visibility"] == "everyone"
    # Not a cycle: two chains sharing a fallback.
    assert patch(client, admin, LITE, {"fallbacks": [OLLAMA]}).status_code == 200
    assert patch(client, admin, HAIKU, {"fallbacks": [NOVA, OLLAMA]}).status_code == 200


def test_two_chains_saved_at_once_cannot_make_a_cycle_together(client, admin):
    """Each check alone passes (neither chain exists yet); the lock in the check makes the
    second see the first."""
    barrier = threading.Barrier(2)

    def save(model_id, fallback):
        barrier.wait(timeout=30)
        return patch(client, admin, model_id, {"fallbacks": [fallback]}).status_code

    for _ in range(4):
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(save, (HAIKU, NOVA), (NOVA, HAIKU)))
        assert statuses == [200, 400], statuses
        for model_id in (HAIKU, NOVA):
            assert patch(client, admin, model_id, {"fallbacks": None}).status_code == 200


def test_only_admins_set_or_see_chains(client, admin):
    user = sign_up(client, "user@example.com")
    assert_error(patch(client, user, HAIKU, {"fallbacks": [NOVA]}), 403)
    assert saved(client, admin, HAIKU)["fallbacks"] == []
    assert patch(client, admin, HAIKU, {"fallbacks": [NOVA]}).status_code == 200
    assert saved(client, user, HAIKU)["fallbacks"] == []  # the admin's setup stays the admin's


def test_a_chain_of_the_wrong_type_is_a_422(client, admin):
    assert_error(patch(client, admin, HAIKU, {"fallbacks": NOVA}), 422)
    assert_error(patch(client, admin, HAIKU, {"fallbacks": [1]}), 422)
    assert_error(patch(client, admin, HAIKU, {"fallbacks": [""]}), 422)

"""Ollama keep-alive per model: the admin's setting (PATCH /api/models) travels as Ollama's
`keep_alive` on every call to that model, and POST /api/models/load loads the model now,
Ollama's way (an empty generate request). Proved against the bundled Ollama-compatible
server with the official `ollama` client reading its /api/ps, and the `openai` SDK
making the calls through /v1."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from omnichat.providers.ollama import chat_body
from omnichat.providers.types import ChatRequest, Message
from tests.helpers import assert_error
from tests.openai_gateway import ollama_ps
from tests.openai_gateway.conftest import OLLAMA_MODEL, TEXT_ONLY_MODEL
from tests.openai_gateway.ollama_ps import FOREVER_YEAR, NAME, expiry

server = ollama_ps.server  # a fixture



def set_keep_alive(client, admin, value, model: str = OLLAMA_MODEL):  # type: ignore[no-untyped-def]
    return client.patch(f"/api/models/{model}", json={"keep_alive": value}, headers=admin.account.headers)


@pytest.mark.parametrize(("given", "saved"), [("10m", "10m"), ("1h30m", "1h30m"), (3600, 3600), ("300", 300),
                                              (-1, -1), ("-1", -1), (0, 0), (None, None)])
def test_the_setting_is_checked_saved_and_listed(client, admin, given, saved) -> None:
    r = set_keep_alive(client, admin, given)
    assert r.status_code == 200, r.text
    assert r.json()["keep_alive"] == saved
    listed = {m["id"]: m for m in client.get("/api/models", headers=admin.account.headers).json()["models"]}
    assert listed[OLLAMA_MODEL]["keep_alive"] == saved


@pytest.mark.parametrize("bad", ["soon", "5d", "10 minutes", "-", "", "1h" * 20, "9999999999h", 10**12, -2])
def test_a_bad_value_is_a_400_naming_what_is_accepted(client, admin, bad) -> None:
    r = set_keep_alive(client, admin, bad)
    assert_error(r, 400, "invalid_keep_alive")
    assert "duration such as 30s" in r.json()["error"]["message"]


@pytest.mark.parametrize("bad", [1.5, True, [], {}])
def test_a_value_of_the_wrong_type_is_refused(client, admin, bad) -> None:
    r = set_keep_alive(client, admin, bad)
    assert 400 <= r.status_code < 500 and "keep_alive" in r.text


def test_bedrock_models_have_no_keep_alive(client, admin) -> None:
    assert_error(set_keep_alive(client, admin, "10m", f"{TEXT_ONLY_MODEL}"), 400, "invalid_keep_alive")


def test_every_call_carries_the_models_keep_alive(client, admin, oai, server) -> None:
    assert set_keep_alive(client, admin, -1).status_code == 200
    oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "hi [[tokens=2]]"}])
    kept = expiry(server)
    assert kept is not None and kept.year == FOREVER_YEAR

    assert set_keep_alive(client, admin, "1h").status_code == 200
    before = datetime.now(timezone.utc)
    list(oai.chat.completions.create(model=OLLAMA_MODEL, stream=True,
                                     messages=[{"role": "user", "content": "hi [[tokens=2]]"}]))
    kept = expiry(server)
    assert kept is not None and before + timedelta(minutes=55) < kept < before + timedelta(minutes=65)

    assert set_keep_alive(client, admin, 0).status_code == 200  # unload after each call
    oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "bye [[tokens=1]]"}])
    assert expiry(server) is None or expiry(server) <= datetime.now(timezone.utc) + timedelta(seconds=5)


def test_a_preset_on_the_model_carries_the_models_keep_alive(client, admin, user, oai, server) -> None:
    assert set_keep_alive(client, admin, -1).status_code == 200
    r = client.post("/api/presets", json={"slug": "terse", "name": "Terse", "base_model": OLLAMA_MODEL},
                    headers=user.account.headers)
    assert r.status_code == 201, r.text
    oai.chat.completions.create(model=r.json()["model_id"], messages=[{"role": "user", "content": "hi [[tokens=2]]"}])
    kept = expiry(server)
    assert kept is not None and kept.year == FOREVER_YEAR


def test_the_chat_body_carries_keep_alive_only_when_set() -> None:
    request = ChatRequest(model=NAME, messages=(Message.text("user", "hi"),))
    assert "keep_alive" not in chat_body(request)
    assert chat_body(ChatRequest(model=NAME, messages=request.messages, keep_alive="10m"))["keep_alive"] == "10m"


def test_load_puts_the_model_in_memory_for_its_keep_alive(client, admin, server) -> None:
    assert expiry(server) is None
    assert set_keep_alive(client, admin, "-1").status_code == 200
    r = client.post("/api/models/load", json={"model": OLLAMA_MODEL}, headers=admin.account.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["loaded"], body["keep_alive"]) == (OLLAMA_MODEL, True, -1)
    assert body["expires_at"].startswith(str(FOREVER_YEAR))
    kept = expiry(server)
    assert kept is not None and kept.year == FOREVER_YEAR


def test_load_refuses_what_it_cannot_load(client, admin, user) -> None:
    def load(body, who=admin):  # type: ignore[no-untyped-def]
        return client.post("/api/models/load", json=body, headers=who.account.headers)

    assert_error(load({"model": TEXT_ONLY_MODEL}), 400, "invalid_model")
    r = load({"model": "ollama/no-such-model:1b"})
    assert r.status_code == 404, r.text
    assert load({"model": OLLAMA_MODEL}, user).status_code == 403
    assert 400 <= load({}).status_code < 500

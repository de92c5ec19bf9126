"""Presets through /v1 with the official `openai` SDK: listed as `preset/<slug>` to those
who may use them, and used like any model (the preset's system prompt before the
request's own, its parameters as defaults the request may override)."""

from __future__ import annotations

import openai
import pytest

from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, sdk


def make(client, who, path: str, slug: str, **fields) -> dict:
    r = client.post(path, json={"slug": slug, "name": slug.title(), "base_model": BEDROCK_MODEL, **fields},
                    headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_presets_are_listed_to_those_who_may_use_them(client, gateway, admin, user, oai):
    make(client, user.account, "/api/presets", "mine")
    make(client, admin.account, "/api/admin/presets", "staff", visibility="admins")
    make(client, admin.account, "/api/admin/presets", "all")
    listed = {m.id: m for m in oai.models.list()}
    assert {"preset/mine", "preset/all"} <= set(listed) and "preset/staff" not in listed
    assert OLLAMA_MODEL in listed and listed["preset/all"].owned_by == "omnichat"
    assert oai.models.retrieve("preset/mine").id == "preset/mine"
    with sdk(gateway, admin.key) as admins:
        assert {"preset/all", "preset/staff"} <= {m.id for m in admins.models.list()}
        assert "preset/mine" not in {m.id for m in admins.models.list()}  # a user's own is theirs alone
        with pytest.raises(openai.NotFoundError):
            admins.chat.completions.create(model="preset/mine", messages=[{"role": "user", "content": "hi"}])


def test_a_chat_completion_with_a_preset_carries_its_prompt_and_defaults(client, backends, user, oai):
    make(client, user.account, "/api/presets", "pirate", system_prompt="Answer like a pirate.",
         params={"temperature": 0.2, "max_tokens": 40})
    r = oai.chat.completions.create(model="preset/pirate", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "ahoy [[tokens=4]]"}])
    assert r.model == "preset/pirate" and len(r.choices[0].message.content.split()) == 4
    body = backends.emulator.journal.last("ConverseStream")["body"]
    assert body["system"] == [{"text": "Answer like a pirate.\n\nBe brief."}]
    assert body["inferenceConfig"] == {"maxTokens": 40, "temperature": 0.2}

    oai.chat.completions.create(model="preset/pirate", temperature=1.0, max_tokens=5,
                                messages=[{"role": "user", "content": "again [[tokens=2]]"}])
    body = backends.emulator.journal.last("ConverseStream")["body"]
    assert body["inferenceConfig"] == {"maxTokens": 5, "temperature": 1.0}
    assert body["system"] == [{"text": "Answer like a pirate."}]


def test_a_preset_whose_base_was_disabled_is_not_found(client, admin, user, oai):
    make(client, user.account, "/api/presets", "pirate")
    r = client.patch(f"/api/models/{BEDROCK_MODEL}", json={"enabled": False}, headers=admin.account.headers)
    assert r.status_code == 200, r.text
    assert "preset/pirate" not in {m.id for m in oai.models.list()}
    with pytest.raises(openai.NotFoundError, match="base model"):
        oai.chat.completions.create(model="preset/pirate", messages=[{"role": "user", "content": "hi"}])

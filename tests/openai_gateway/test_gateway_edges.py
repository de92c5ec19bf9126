"""Edges of the gateway found by probing it from outside (the public docs, the official
`openai` and `ollama` clients): each test is one defect that was there, fixed.

- An Ollama id written without its tag (`ollama/omnichat-test`) is the same model as
  `ollama/omnichat-test:latest`: the admin's settings of that model (enabled, visibility,
  keep-alive) apply to it, and the answer names the model by its one id.
- A fallback that cannot give the structured output the request asks for is skipped, not
  called to refuse it with a 400 after the asked model was throttled.
- An Ollama model answering as a fallback is called with its own keep-alive, not the
  server's default, which would cut how long the admin keeps it loaded.
"""

from __future__ import annotations

import json
import socket

import openai
import pytest

from local.serve import ServerThread
from tests.helpers import sign_up
from tests.openai_gateway import ollama_ps
from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, TEXT_ONLY_MODEL, make_key, sdk, usage_rows
from tests.openai_gateway.ollama_ps import FOREVER_YEAR, NAME, expiry

TAGLESS = OLLAMA_MODEL.removesuffix(":latest")  # ollama/omnichat-test
HAIKU_ID = BEDROCK_MODEL.removeprefix("bedrock/")
NO_FORCING_MODEL = "bedrock/meta.llama3-1-8b-instruct-v1:0"  # cannot be forced to call a tool
ASK = [{"role": "user", "content": "hello [[tokens=4]]"}]
PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

server = ollama_ps.server  # a fixture


def patch_model(client, admin, model: str, **fields):  # type: ignore[no-untyped-def]
    r = client.patch(f"/api/models/{model}", json=fields, headers=admin.account.headers)
    assert r.status_code == 200, r.text
    return r.json()


# ---- an Ollama id without its tag ---------------------------------------------------------
@pytest.mark.parametrize("setting", [{"enabled": False}, {"visibility": "admins"}])
def test_a_tagless_id_cannot_reach_a_model_the_admin_closed(client, admin, oai, setting, db_url) -> None:
    """It was answered: `ollama/x` read the (empty) settings of `ollama/x`, not the admin's."""
    patch_model(client, admin, OLLAMA_MODEL, **setting)
    for model in (OLLAMA_MODEL, TAGLESS):
        with pytest.raises(openai.NotFoundError) as caught:
            oai.chat.completions.create(model=model, messages=ASK)
        assert caught.value.code == "model_not_found"
    assert usage_rows(db_url) == []


def test_a_tagless_id_is_answered_as_the_tagged_model(oai, db_url) -> None:
    answer = oai.chat.completions.create(model=TAGLESS, messages=ASK)
    assert answer.model == OLLAMA_MODEL and answer.choices[0].message.content
    assert [row.model for row in usage_rows(db_url)] == [OLLAMA_MODEL]


def test_a_tagless_id_carries_the_models_keep_alive(client, admin, oai, server) -> None:
    patch_model(client, admin, OLLAMA_MODEL, keep_alive=-1)
    oai.chat.completions.create(model=TAGLESS, messages=ASK)
    kept = expiry(server)
    assert kept is not None and kept.year == FOREVER_YEAR  # was the server's default (5 minutes)


def test_loading_by_a_tagless_name_keeps_the_models_keep_alive(client, admin, server) -> None:
    patch_model(client, admin, OLLAMA_MODEL, keep_alive=-1)
    for model in (TAGLESS, NAME.removesuffix(":latest")):
        r = client.post("/api/models/load", json={"model": model}, headers=admin.account.headers)
        assert r.status_code == 200, r.text
        assert r.json()["model"] == OLLAMA_MODEL and r.json()["loaded"] is True and r.json()["keep_alive"] == -1
        kept = expiry(server)
        assert kept is not None and kept.year == FOREVER_YEAR


# ---- structured output through a fallback chain -------------------------------------------
@pytest.mark.parametrize("response_format", [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}},
])
def test_a_fallback_that_cannot_give_json_is_skipped(client, admin, oai, backends, response_format, db_url) -> None:
    """The chain's Llama cannot be forced to call a tool: it was called, refused, and the
    request ended with a 400 naming a model the client never asked for."""
    patch_model(client, admin, BEDROCK_MODEL, fallbacks=[NO_FORCING_MODEL, OLLAMA_MODEL])
    backends.emulator.faults.error("ThrottlingException", times=10, model_id=HAIKU_ID)
    answer = oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK, response_format=response_format)
    assert answer.model == OLLAMA_MODEL
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)
    called = {e["modelId"] for e in backends.emulator.journal.entries() if e["operation"].startswith("Converse")}
    assert called == {HAIKU_ID}  # the Llama was never called
    assert [(row.model, row.outcome) for row in usage_rows(db_url)] == [(OLLAMA_MODEL, "complete")]


def test_without_a_format_the_same_fallback_answers(client, admin, oai, backends) -> None:
    patch_model(client, admin, BEDROCK_MODEL, fallbacks=[NO_FORCING_MODEL, OLLAMA_MODEL])
    backends.emulator.faults.error("ThrottlingException", times=10, model_id=HAIKU_ID)
    assert oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK).model == NO_FORCING_MODEL


def test_a_bedrock_fallback_is_skipped_for_a_schema_whose_root_is_not_an_object(
        client, admin, user, live_settings, backends) -> None:
    """Bedrock gives JSON through a tool, whose input is an object: an array schema, fine
    for the asked Ollama model, was sent to its Bedrock fallback when Ollama was down, and
    the client got that model's 400. Now the fallback is passed over and the client hears
    the asked model's own failure (503, Ollama unreachable)."""
    from omnichat.openai_compat.app import create_app

    patch_model(client, admin, OLLAMA_MODEL, fallbacks=[TEXT_ONLY_MODEL])
    with socket.socket() as s:  # a port nothing listens on: Ollama is down
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    fmt = {"type": "json_schema", "json_schema": {"name": "list", "schema": {"type": "array", "items": {
        "type": "integer"}}}}
    with ServerThread(create_app(live_settings.with_overrides(ollama_host=down))) as gateway:
        with pytest.raises(openai.InternalServerError) as caught:
            sdk(gateway, user.key).chat.completions.create(model=OLLAMA_MODEL, messages=ASK, response_format=fmt)
    assert caught.value.status_code == 503 and caught.value.code == "provider_unavailable"
    assert not [e for e in backends.emulator.journal.entries() if e["operation"].startswith("Converse")]


# ---- keep-alive of a fallback -------------------------------------------------------------
def test_an_ollama_fallback_is_called_with_its_own_keep_alive(client, admin, oai, backends, server) -> None:
    patch_model(client, admin, OLLAMA_MODEL, keep_alive=-1)
    patch_model(client, admin, BEDROCK_MODEL, fallbacks=[OLLAMA_MODEL])
    backends.emulator.faults.error("ThrottlingException", times=10, model_id=HAIKU_ID)
    assert oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK).model == OLLAMA_MODEL
    kept = expiry(server)
    assert kept is not None and kept.year == FOREVER_YEAR  # was the server's default (5 minutes)


# ---- a schema whose references cannot be followed -----------------------------------------
@pytest.mark.parametrize(("reference", "says"), [
    ({"$ref": "#nope"}, "'#nope' cannot be resolved"),  # an anchor that is not there
    ({"$ref": "other.json"}, "'other.json' cannot be resolved"),  # a relative reference: another document
    ({"$ref": "#/properties/a"}, "loop back"),  # a reference to itself
])
@pytest.mark.parametrize("model", [OLLAMA_MODEL, BEDROCK_MODEL])
def test_a_reference_that_cannot_be_followed_is_a_400(oai, model, reference, says, db_url) -> None:
    """These passed the schema check and reached the model; with `strict` its every answer
    then failed the check as a 500 (`invalid_model_output`, naming a Python exception)."""
    schema = {"type": "object", "properties": {"a": reference}, "required": ["a"]}
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=model, messages=ASK, response_format={
            "type": "json_schema", "json_schema": {"name": "refs", "schema": schema, "strict": True}})
    assert caught.value.code == "invalid_json_schema" and says in caught.value.message
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "response_format.json_schema.schema"
    assert usage_rows(db_url) == []


@pytest.mark.parametrize("schema", [
    {"type": "object", "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
     "properties": {"head": {"$ref": "#/$defs/node"}}, "required": ["head"]},  # recursion through a property
    {"type": "object", "properties": {"a": {"$ref": "#word"}}, "required": ["a"],
     "$defs": {"w": {"$anchor": "word", "type": "string"}}},  # an anchor that is there
])
def test_references_that_can_be_followed_still_pass(oai, schema) -> None:
    answer = oai.chat.completions.create(model=OLLAMA_MODEL, messages=ASK, response_format={
        "type": "json_schema", "json_schema": {"name": "refs", "schema": schema, "strict": True}})
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("spec", ["city", ["city"], 5, True])
def test_a_json_schema_that_is_not_an_object_is_a_type_error_not_a_missing_one(oai, spec, db_url) -> None:
    """It was answered "Missing required parameter" though the client had sent it."""
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=OLLAMA_MODEL, messages=ASK,
                                    response_format={"type": "json_schema", "json_schema": spec})
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "response_format.json_schema"
    assert body["code"] == "invalid_type" and "expected an object" in body["message"]
    assert usage_rows(db_url) == []


# ---- a model shared with groups (issue 18 check) -------------------------------------------
def test_a_model_shared_with_a_group_is_for_its_members_only(client, admin, user, oai, gateway) -> None:
    """Through /v1 with an API key: a non-member gets the unknown model's 404 (listing and
    calling), a member is answered, and deleting the group takes the model away at once."""
    other = sign_up(client, "other@example.com")
    other_key = make_key(client, other)[0]
    h = admin.account.headers
    gid = client.post("/api/admin/groups", json={"name": "research"}, headers=h).json()["id"]
    assert client.post(f"/api/admin/groups/{gid}/members", json={"user_id": user.account.id},
                       headers=h).status_code == 204
    patch_model(client, admin, OLLAMA_MODEL, visibility="groups", groups=[gid])
    assert oai.chat.completions.create(model=OLLAMA_MODEL, messages=ASK).choices[0].message.content
    assert OLLAMA_MODEL in {m.id for m in oai.models.list()}
    with sdk(gateway, other_key) as outsider:
        assert OLLAMA_MODEL not in {m.id for m in outsider.models.list()}
        for model in (OLLAMA_MODEL, TAGLESS):
            with pytest.raises(openai.NotFoundError) as caught:
                outsider.chat.completions.create(model=model, messages=ASK)
            assert caught.value.code == "model_not_found"
    assert client.delete(f"/api/admin/groups/{gid}", headers=h).status_code == 204
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model=OLLAMA_MODEL, messages=ASK)

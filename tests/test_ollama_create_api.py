"""POST /api/models/create (admins): an Ollama model made from another with a system prompt
and parameters, through the provider to the bundled server's /api/create, then offered like
any model (and usable as a preset's base). Its own server, so the shared one stays clean."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from local.ollama import create_app as ollama_app
from local.serve import ServerThread
from omnichat.catalog import catalog
from tests.conftest import app_for
from tests.helpers import assert_error, sign_up

BASE = "ollama/omnichat-test:latest"


@pytest.fixture
def ollama_own(tmp_path) -> Iterator[ServerThread]:
    with ServerThread(ollama_app(tmp_path / "models", deterministic=True)) as server:
        yield server


@pytest.fixture
def app(settings, ollama_own):
    from omnichat.api.app import create_app

    catalog.invalidate_cache()
    return app_for(create_app, settings.with_overrides(ollama_host=ollama_own.url))


@pytest.fixture
def people(client):
    return sign_up(client, "admin@example.com"), sign_up(client, "user@example.com")


def test_an_admin_creates_a_model_that_is_then_offered(client, people, ollama_own):
    admin, user = people
    r = client.post("/api/models/create", headers=admin.headers, json={
        "model": "ollama/pirate:latest", "from": "ollama/omnichat-test:latest", "system": "Talk like a pirate.",
        "parameters": {"temperature": 0.2, "num_predict": 5, "stop": ["Arr"]}})
    assert r.status_code == 201, r.text
    assert r.json() == {"model": "ollama/pirate:latest", "status": "success"}
    shown = ollama.Client(host=ollama_own.url).show("pirate")
    assert 'SYSTEM """Talk like a pirate."""' in shown.modelfile
    assert set(shown.parameters.splitlines()) == {"temperature 0.2", "num_predict 5", 'stop "Arr"'}
    listed = [m["id"] for m in client.get("/api/models", headers=user.headers).json()["models"]]
    assert "ollama/pirate:latest" in listed
    # A created model can be the base of another, and of a preset.
    assert client.post("/api/models/create", headers=admin.headers,
                       json={"model": "ollama/parrot:latest", "from": "ollama/pirate:latest"}).status_code == 201
    r = client.post("/api/presets", headers=user.headers,
                    json={"slug": "parrot", "name": "Parrot", "base_model": "ollama/parrot:latest"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("body, status, code, says", [
    ({"model": "ollama/x:1", "from": "ollama/no-such:1b"}, 404, "model_not_found", "no-such:1b"),
    ({"model": BASE, "from": BASE}, 400, "invalid_request", "has weights of its own"),
    ({"model": "ollama/x:1", "from": "bedrock/anthropic.claude-3-haiku-20240307-v1:0"}, 400, "invalid_model",
     "ollama"),
    ({"model": "ollama/a b:1", "from": BASE}, 400, "invalid_model", "not an Ollama model name"),
    ({"model": "ollama/x:1", "from": "ollama/../x"}, 400, "invalid_model", "not an Ollama model name"),
    ({"model": "ollama/x:1", "from": BASE, "parameters": {"mirostat": 1}}, 422, None, "mirostat"),
    ({"model": "ollama/x:1", "from": BASE, "parameters": {"temperature": 7}}, 422, None, "temperature"),
    ({"model": "ollama/x:1"}, 422, None, "from"),
])
def test_what_cannot_be_made_is_a_clear_error_and_nothing_is_made(client, people, ollama_own, body, status, code,
                                                                  says):
    admin, _ = people
    error = assert_error(client.post("/api/models/create", headers=admin.headers, json=body), status, code)
    assert says in error["message"] or says in str(error.get("details")), error
    assert [m.model for m in ollama.Client(host=ollama_own.url).list().models] == ["omnichat-test:latest"]

"""Provider failures on the REST API (an admin's model pull, delete and listing, with Ollama
down) carry a stable code and a message a user can act on, never Ollama's host or raw words."""

from __future__ import annotations

import json
import logging

from tests.helpers import assert_error, sign_up
from tests.user_facing import assert_user_facing


def test_pull_and_delete_with_ollama_down_do_not_reveal_its_address(client, settings, caplog):
    admin = sign_up(client, "admin@example.com")
    host = settings.ollama_host  # a closed port (conftest)
    r = client.post("/api/models/pull", json={"model": "ollama/llama3.2:1b"}, headers=admin.headers)
    [line] = [json.loads(text) for text in r.text.splitlines()]
    assert r.status_code == 200 and line["error"]["code"] == "provider_unavailable"
    assert_user_facing(line["error"]["message"])
    with caplog.at_level(logging.WARNING):
        error = assert_error(client.delete("/api/models/ollama/llama3.2:1b", headers=admin.headers), 503,
                             "provider_unavailable")
    assert_user_facing(error["message"])
    assert host in caplog.text  # the operator still learns where it tried
    r = client.get("/api/models", headers=admin.headers)
    assert r.status_code == 200 and set(r.json()["unavailable"]) == {"ollama"}
    assert_user_facing(r.json()["unavailable"]["ollama"])

"""The admin's view of the Ollama nodes (GET /api/admin/ollama/nodes) over REST, against
real local Ollama-compatible servers and one address where nothing answers."""

from __future__ import annotations

import asyncio

import pytest

from local.ollama import create_app as ollama_app
from local.serve import ServerThread, free_port
from omnichat.catalog import catalog
from omnichat.providers import registry
from omnichat.providers.types import ChatRequest, Message
from tests.conftest import app_for
from tests.helpers import assert_error, sign_up

MODEL = "omnichat-test:latest"


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    models = tmp_path_factory.mktemp("shared-models")
    with ServerThread(ollama_app(models, deterministic=True)) as a, \
            ServerThread(ollama_app(models, deterministic=True)) as b:
        yield [a.url, b.url]


@pytest.fixture
def node_settings(settings, two_nodes):
    catalog.invalidate_cache()
    dead = f"http://127.0.0.1:{free_port()}"
    return settings.with_overrides(ollama_hosts=",".join([*two_nodes, dead]))


@pytest.fixture
def app(node_settings):
    from omnichat.api.app import create_app

    return app_for(create_app, node_settings)


def test_the_admin_sees_every_node_its_health_and_what_it_has_loaded(client, node_settings, two_nodes):
    admin = sign_up(client, "admin@example.com")

    async def chat() -> None:  # one answer through the router the app uses
        provider = registry.get_provider(node_settings, "ollama")
        async for _ in provider.stream_chat(ChatRequest(model=MODEL, messages=(Message.text("user", "hi"),),
                                                        max_tokens=4)):
            pass

    asyncio.run(chat())
    r = client.get("/api/admin/ollama/nodes", headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["routed"] is True and body["discovery"] == "static"
    nodes = {n["url"]: n for n in body["nodes"]}
    assert list(nodes) == list(node_settings.ollama_nodes)
    dead = nodes[node_settings.ollama_nodes[2]]
    assert dead["healthy"] is False and "cannot be reached" in dead["error"] and dead["loaded"] == []
    live = [nodes[url] for url in two_nodes]
    assert all(n["healthy"] and n["error"] is None and n["models"] == 1 and n["in_flight"] == 0 for n in live)
    assert sorted(len(n["loaded"]) for n in live) == [0, 1]  # the one that answered holds the model
    # Every surface's listing goes through the router: the model once, though two nodes have it.
    listed = [m["id"] for m in client.get("/api/models", headers=admin.headers).json()["models"]]
    assert listed.count(f"ollama/{MODEL}") == 1


def test_the_view_is_refused_when_ollama_is_off(client, settings):
    from fastapi.testclient import TestClient

    from omnichat.api.app import create_app

    with TestClient(create_app(settings.with_overrides(ollama_enabled=False))) as off:
        admin = sign_up(off, "admin@example.com")
        assert_error(off.get("/api/admin/ollama/nodes", headers=admin.headers), 404, "model_not_found")

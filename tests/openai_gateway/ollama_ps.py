"""The bundled Ollama server through the official `ollama` client, for the keep-alive tests:
the `server` fixture (the model unloaded before and after) and `expiry`, when /api/ps says
the model leaves memory. A test module takes the fixture as its own: `server = ollama_ps.server`."""

from __future__ import annotations

from datetime import datetime

import ollama
import pytest

from tests.openai_gateway.conftest import OLLAMA_MODEL

NAME = OLLAMA_MODEL.removeprefix("ollama/")
FOREVER_YEAR = 2318  # how Ollama's /api/ps shows a model kept for good


@pytest.fixture
def server(backends):  # type: ignore[no-untyped-def]
    """The official client on the bundled server, the model unloaded before and after."""
    client = ollama.Client(host=backends.ollama.url)
    client.generate(model=NAME, keep_alive=0)
    yield client
    client.generate(model=NAME, keep_alive=0)


def expiry(server: ollama.Client) -> datetime | None:
    entry = next((m for m in server.ps().models if m.model == NAME), None)
    return None if entry is None else entry.expires_at

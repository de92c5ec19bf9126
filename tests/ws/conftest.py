"""Fixtures for the WebSocket Lambdas: the deterministic local Ollama, the Bedrock
emulator, moto's server standing in for the Management API (on loopback, so the handlers'
own HTTP client reaches it), and the environment a Lambda gets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.bedrock import create_app as bedrock_app
from local.serve import ServerThread, moto_server
from omnichat.auth.principal import Principal
from omnichat.catalog import catalog
from omnichat.config import get_settings
from tests.helpers import make_user
from tests.ws.harness import REGION, Harness

TEST_MODEL = "ollama/omnichat-test:latest"
BEDROCK_MODEL = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def ollama(ollama_server: ServerThread) -> ServerThread:
    """The session's shared deterministic server (tests/ollama_server.py)."""
    return ollama_server


@pytest.fixture(scope="module")
def bedrock() -> Iterator[ServerThread]:
    with ServerThread(bedrock_app()) as server:
        yield server


@pytest.fixture(scope="module")
def management_api() -> Iterator[str]:
    """The @connections endpoint. moto's server knows the Management API only without a
    stage in the path (API Gateway's own endpoint carries `/{stage}`)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def harness(monkeypatch, db_url, ollama, bedrock, management_api, tmp_path) -> Iterator[Harness]:
    env = {
        "DATABASE_URL": db_url, "OMNICHAT_HOME": str(tmp_path), "OMNICHAT_JWT_SECRET": "ws-test-secret-" + "w" * 32,
        "OLLAMA_HOST": ollama.url, "OMNICHAT_BEDROCK_ENABLED": "true",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url, "AWS_ENDPOINT_URL_BEDROCK": bedrock.url,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION, "OMNICHAT_PROVIDER_MAX_ATTEMPTS": "2", "OMNICHAT_WS_ENDPOINT": management_api,
        # Fuzz tests connect once per example; the limit's own tests set a small one.
        "OMNICHAT_WS_MAX_CONNECTIONS_PER_USER": "1000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    catalog.invalidate_cache()
    harness = Harness(db_url)
    monkeypatch.setattr(harness.backend, "delete_connection", harness.observe_closes(harness.backend.delete_connection))
    yield harness
    get_settings.cache_clear()


@pytest.fixture
def alice(db_url) -> Principal:
    return make_user(db_url, "alice@example.com", "admin")


@pytest.fixture
def bob(db_url) -> Principal:
    return make_user(db_url, "bob@example.com")

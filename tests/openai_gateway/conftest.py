"""Fixtures for the OpenAI-compatible gateway: the gateway app served by uvicorn on a
loopback port, with the deterministic local Ollama and the Bedrock emulator behind it,
and the official `openai` SDK as the client. Accounts and API keys are made through the
REST API (`client`), so the keys are the real thing; every test runs on SQLite and on
PostgreSQL (`db_url`)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from sqlalchemy import select

from local.bedrock import create_app as bedrock_app
from local.serve import ServerThread
from omnichat.catalog import catalog
from omnichat.db.engine import session_scope
from omnichat.db.models import UsageRecord
from tests.conftest import app_for
from tests.helpers import Account, set_policy, sign_up

OLLAMA_MODEL = "ollama/omnichat-test:latest"
BEDROCK_MODEL = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"
THINKING_MODEL = "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
TEXT_ONLY_MODEL = "bedrock/amazon.nova-micro-v1:0"


def png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\xff")) \
        + chunk(b"IEND", b"")


@dataclass
class Backends:
    ollama: ServerThread
    bedrock: ServerThread

    @property
    def emulator(self) -> Any:  # the Bedrock emulator's state: faults, journal
        return self.bedrock.app.state.emulator


@pytest.fixture(scope="module")
def backends(ollama_server: ServerThread) -> Iterator[Backends]:
    with ServerThread(bedrock_app()) as bedrock:
        yield Backends(ollama_server, bedrock)


@pytest.fixture
def live_settings(settings, backends: Backends, monkeypatch: pytest.MonkeyPatch, tmp_path):  # type: ignore[no-untyped-def]
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                 "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    catalog.invalidate_cache()
    backends.emulator.faults.clear()
    backends.emulator.journal.clear()
    yield settings.with_overrides(ollama_host=backends.ollama.url, bedrock_enabled=True,
                                  bedrock_runtime_endpoint=backends.bedrock.url, bedrock_endpoint=backends.bedrock.url,
                                  provider_max_attempts=2, provider_read_timeout_s=20.0)
    backends.emulator.faults.clear()


@pytest.fixture
def app(live_settings):  # type: ignore[no-untyped-def]
    """The REST API (for sign-up, keys, admin actions) on the same settings."""
    from omnichat.api.app import create_app

    return app_for(create_app, live_settings)


@pytest.fixture
def gateway_app(live_settings):  # type: ignore[no-untyped-def]
    from omnichat.openai_compat.app import create_app

    return app_for(create_app, live_settings, max_body_bytes=256 * 1024)


class Swappable:
    """An ASGI app that forwards to the current test's gateway app, so one uvicorn server
    per module serves every test (each with its own database and settings)."""

    target: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


@pytest.fixture(scope="module")
def gateway_server() -> Iterator[tuple[ServerThread, Swappable]]:
    swappable = Swappable()
    with ServerThread(swappable, lifespan="off") as server:  # the gateway app has no lifespan work
        yield server, swappable


@pytest.fixture
def gateway(gateway_server, gateway_app) -> Iterator[ServerThread]:  # type: ignore[no-untyped-def]
    server, swappable = gateway_server
    swappable.target = gateway_app
    yield server
    swappable.target = None


@dataclass
class Person:
    account: Account
    key: str
    key_id: str


def make_key(client: Any, account: Account, name: str = "sdk") -> tuple[str, str]:
    r = client.post("/api/keys", json={"name": name}, headers=account.headers)
    assert r.status_code == 201, r.text
    return r.json()["key"], r.json()["id"]


@pytest.fixture
def admin(client) -> Person:  # type: ignore[no-untyped-def]
    account = sign_up(client, "admin@example.com")  # the first account is the admin
    return Person(account, *make_key(client, account))


@pytest.fixture
def user(client, admin) -> Person:  # type: ignore[no-untyped-def]
    account = sign_up(client, "user@example.com")
    return Person(account, *make_key(client, account))


@pytest.fixture
def pending(client, admin) -> Account:  # type: ignore[no-untyped-def]
    set_policy(client, admin.account, "approval")
    account = sign_up(client, "pending@example.com")
    set_policy(client, admin.account, "open")
    assert account.role == "pending"
    return account


def sdk(gateway: ServerThread, key: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30.0, **options)


@pytest.fixture
def oai(gateway, user) -> Iterator[openai.OpenAI]:  # type: ignore[no-untyped-def]
    """The SDK with an ordinary user's API key."""
    with sdk(gateway, user.key) as client:
        yield client


def usage_rows(db_url: str) -> list[UsageRecord]:
    with session_scope(db_url) as db:
        rows = list(db.scalars(select(UsageRecord).order_by(UsageRecord.created_at)))
        db.expunge_all()
        return rows

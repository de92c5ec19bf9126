"""Fixtures for the Bedrock emulator and provider tests (imported explicitly by them).

One emulator per test module, served by uvicorn on an ephemeral loopback port; each
test starts with no faults queued and an empty request journal. Real boto3 clients talk
to it with dummy credentials: nothing here can reach AWS.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import struct
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest

from local.bedrock import EmulatorServer, create_app
from omnichat.config import Settings
from omnichat.providers.bedrock import BedrockProvider

T = TypeVar("T")

def _png_1x1() -> bytes:
    """A valid 1x1 RGBA PNG, built rather than pasted."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG_1x1 = _png_1x1()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Dummy credentials and no shared config, so boto3 cannot find a real account."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                 "AWS_BEARER_TOKEN_BEDROCK", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def bedrock_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(create_app()) as server:
        yield server


@pytest.fixture
def bedrock(bedrock_server: EmulatorServer, aws_env: None) -> Iterator[EmulatorServer]:
    """The module's emulator, reset for this test."""
    bedrock_server.state.faults.clear()
    bedrock_server.state.journal.clear()
    yield bedrock_server
    bedrock_server.state.faults.clear()


@functools.cache
def _boto_session() -> Any:
    """One boto3 session for the process: a new one loads the service's model and the
    endpoint rules from their JSON files again, ~0.23 s of CPU, where a client of a session
    that loaded them costs ~0.01 s."""
    import boto3

    return boto3.session.Session()


def boto_client(service: str, url: str, *, attempts: int = 1, read_timeout: float = 10.0,
                region: str = "us-east-1") -> Any:
    """A client with the credentials the environment holds now (`aws_env`, or a test's own)."""
    from botocore.config import Config

    config = Config(
        region_name=region, connect_timeout=2, read_timeout=read_timeout,
        # total_max_attempts counts the first try; retries["max_attempts"] would not.
        retries={"mode": "standard", "total_max_attempts": attempts},
    )
    return _boto_session().client(service, endpoint_url=url, config=config,
                                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                                  aws_session_token=os.environ.get("AWS_SESSION_TOKEN"))


@pytest.fixture
def runtime(bedrock: EmulatorServer) -> Any:
    """A `bedrock-runtime` client without retries: every error surfaces as sent."""
    return boto_client("bedrock-runtime", bedrock.url)


@pytest.fixture
def control(bedrock: EmulatorServer) -> Any:
    return boto_client("bedrock", bedrock.url)


def provider_for(url: str, **overrides: Any) -> BedrockProvider:
    """OmniChat's Bedrock provider for the emulator at `url`: one attempt, short timeouts;
    `overrides` are Settings fields."""
    settings = Settings(bedrock_enabled=True, aws_region="us-east-1", bedrock_runtime_endpoint=url,
                        bedrock_endpoint=url, provider_connect_timeout_s=2.0, provider_read_timeout_s=10.0,
                        provider_max_attempts=1)
    return BedrockProvider(settings.with_overrides(**overrides))


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(coro_fn: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run an async test body with a bound on its duration."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


async def collect(stream: AsyncIterator[T]) -> list[T]:
    return [event async for event in stream]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}]}

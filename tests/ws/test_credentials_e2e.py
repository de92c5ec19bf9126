"""End to end, through the local API Gateway emulator running template.yaml's handlers: a
real WebSocket client whose session is signed out over REST gets `session_ended` on its
next frame and then sees the server close the socket; a user's connection beyond the limit
is refused during the handshake with 429, and a protocol version it does not speak with 400."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from local.gateway import start
from local.gateway.server import RunningGateway
from omnichat.catalog import catalog
from omnichat.config import get_settings
from tests.helpers import PASSWORD

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def stack(db_url, ollama, tmp_path) -> Iterator[RunningGateway]:
    before = dict(os.environ)  # the emulator puts the functions' environment in this process's
    get_settings.cache_clear()
    catalog.invalidate_cache()
    running = start(TEMPLATE, env={"DATABASE_URL": db_url, "OMNICHAT_HOME": str(tmp_path), "OLLAMA_HOST": ollama.url,
                                   "OMNICHAT_BEDROCK_ENABLED": "false", "OMNICHAT_WS_MAX_CONNECTIONS_PER_USER": "2"})
    try:
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(before)
        get_settings.cache_clear()


def signed_in(stack: RunningGateway, email: str) -> str:
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        assert http.post("/api/auth/signup", json={"email": email, "password": PASSWORD}).status_code == 202
        r = http.post("/api/auth/signin", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


def ticket(stack: RunningGateway, token: str) -> str:
    r = httpx.post(f"{stack.url}/api/auth/ws-ticket", headers={"authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["ticket"]


def test_signing_out_closes_the_open_socket_after_saying_why(stack):
    token = signed_in(stack, "ada@example.com")

    async def scenario() -> tuple[dict, dict, int | None]:
        async with connect(f"{stack.ws_url}?ticket={ticket(stack, token)}") as ws:
            await ws.send(json.dumps({"action": "ping", "request_id": "before"}))
            pong = json.loads(await asyncio.wait_for(ws.recv(), 20))
            signout = await asyncio.to_thread(httpx.post, f"{stack.url}/api/auth/signout",
                                              headers={"authorization": f"Bearer {token}"}, timeout=30)
            assert signout.status_code == 204
            await ws.send(json.dumps({"action": "ping", "request_id": "after"}))
            error = json.loads(await asyncio.wait_for(ws.recv(), 20))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 20)
            return pong, error, ws.close_code

    pong, error, close_code = asyncio.run(scenario())
    assert pong["type"] == "pong"
    assert error["type"] == "error" and error["code"] == "session_ended"
    assert close_code == 1000  # DeleteConnection: a normal close, not a dropped socket


def test_a_connection_beyond_the_users_limit_is_refused_at_the_handshake(stack):
    token = signed_in(stack, "ada@example.com")

    async def scenario() -> int:
        async with connect(f"{stack.ws_url}?ticket={ticket(stack, token)}"), \
                connect(f"{stack.ws_url}?ticket={ticket(stack, token)}"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{stack.ws_url}?ticket={ticket(stack, token)}"):
                    pass
            return refused.value.response.status_code

    assert asyncio.run(scenario()) == 429
    # Both closed: their $disconnect freed the places (the emulator runs it in the background).
    async def reconnect() -> None:
        for _ in range(100):
            try:
                async with connect(f"{stack.ws_url}?ticket={ticket(stack, token)}") as ws:
                    await ws.send(json.dumps({"action": "ping"}))
                    assert json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] == "pong"
                    return
            except InvalidStatus:
                await asyncio.sleep(0.05)
        raise AssertionError("closed connections kept counting against the user")

    asyncio.run(reconnect())


def test_a_protocol_version_the_server_does_not_speak_is_refused_at_the_handshake(stack):
    """`v` names the protocol the client speaks (docs/websocket-protocol.md): a client of a
    later version learns at once that this server is older, instead of misreading frames."""
    token = signed_in(stack, "ada@example.com")

    async def refused(version: str) -> int:
        with pytest.raises(InvalidStatus) as refusal:
            async with connect(f"{stack.ws_url}?ticket={ticket(stack, token)}&v={version}"):
                pass
        return refusal.value.response.status_code

    # Only the status reaches the client: API Gateway keeps $connect's body to itself.
    assert [asyncio.run(refused(version)) for version in ("2", "abc", "")] == [400, 400, 400]

    async def speaks(query: str) -> str:
        async with connect(f"{stack.ws_url}?ticket={ticket(stack, token)}{query}") as ws:
            await ws.send(json.dumps({"action": "ping"}))
            return json.loads(await asyncio.wait_for(ws.recv(), 20))["type"]

    assert asyncio.run(speaks("&v=1")) == "pong"
    assert asyncio.run(speaks("")) == "pong"  # no `v`: version 1

"""Hostile JSON over real HTTP (uvicorn, one keep-alive connection): nesting 900-2,000
levels deep, lone surrogates, NUL, NaN and numbers of more than 4,300 digits are a 400
with the API's error shape, on the REST API and on /v1, the connection stays open for the
next request, and nothing is stored."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from local.serve import ServerThread
from omnichat.openai_compat.app import create_app as gateway_app
from tests.helpers import sign_up

HOSTILE: dict[str, bytes] = {
    "nested 900 deep": b'{"params": ' + b"[" * 900 + b"]" * 900 + b"}",
    "nested 2,000 deep": b'{"params": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    "objects 1,000 deep": b'{"params": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"}",
    "a lone surrogate": b'{"title": "\\ud800 x"}',
    "a lone surrogate key": b'{"\\udc00": 1}',
    "NUL": b'{"title": "a\\u0000b"}',
    "a 4,301-digit integer": b'{"title": ' + b"9" * 4301 + b"}",
    "NaN": b'{"pinned": NaN}',
    "Infinity": b'{"params": {"temperature": 1e999}}',
    "not UTF-8": b'{"title": "\xed\xa0\x80"}',
}


class KeepAlive:
    """One HTTP/1.1 connection; every exchange must leave it open."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.conn.connect()
        self.sock = self.conn.sock

    def __call__(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, Any]:
        self.conn.request(method, path, body=body, headers={"content-type": "application/json", **(headers or {})})
        response = self.conn.getresponse()
        data = response.read()
        assert self.conn.sock is self.sock, "the server closed the keep-alive connection"
        return response.status, json.loads(data) if data else None


@pytest.fixture
def rest(app) -> Iterator[tuple[str, TestClient]]:  # type: ignore[no-untyped-def]
    with ServerThread(app, lifespan="off") as server, TestClient(app) as client:
        yield server.url, client


def test_rest_answers_400_and_keeps_the_connection(rest):
    url, client = rest
    alice = sign_up(client, "alice@example.com")
    chat = client.post("/api/chats", json={"title": "keep me"}, headers=alice.headers).json()
    http = KeepAlive(url)
    for name, body in HOSTILE.items():
        for method, path in (("PATCH", f"/api/chats/{chat['id']}"), ("POST", "/api/chats")):
            status, answer = http(method, path, body, alice.headers)
            assert (status, answer["error"]["code"]) == (400, "invalid_json"), (name, method, answer)
    status, answer = http("GET", f"/api/chats/{chat['id']}", headers=alice.headers)
    assert status == 200 and answer["chat"]["title"] == "keep me" and answer["chat"]["params"] == {}
    assert len(client.get("/api/chats", headers=alice.headers).json()["chats"]) == 1


@pytest.mark.parametrize("path", ["/api/chats?q=a%00b", "/api/chats/%00", "/api/chats?cursor=%ED%A0%80x%00"])
def test_rest_parameters_that_no_database_can_store_are_400(rest, path):
    url, client = rest
    alice = sign_up(client, "alice@example.com")
    status, answer = KeepAlive(url)("GET", path, headers=alice.headers)
    assert (status, answer["error"]["code"]) == (400, "invalid_parameter"), answer


@pytest.fixture
def v1(settings, client) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    account = sign_up(client, "admin@example.com")
    key = client.post("/api/keys", json={"name": "k"}, headers=account.headers).json()["key"]
    with ServerThread(gateway_app(settings), lifespan="off") as server:
        yield server.url, key


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/embeddings"])
def test_v1_answers_400_and_keeps_the_connection(v1, route):
    url, key = v1
    http = KeepAlive(url)
    for name, body in HOSTILE.items():
        status, answer = http("POST", route, body, {"authorization": f"Bearer {key}"})
        assert status == 400 and answer["error"]["code"] == "invalid_json", (name, answer)
        assert answer["error"]["type"] == "invalid_request_error"
    status, answer = http("GET", "/v1/models", headers={"authorization": f"Bearer {key}"})
    assert status == 200 and answer["object"] == "list"


def test_v1_tool_arguments_are_held_to_the_same_rules(v1):
    url, key = v1
    deep = "[" * 3000 + "]" * 3000
    body = {"model": "ollama/m:1", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                              "function": {"name": "f", "arguments": deep}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}
    status, answer = KeepAlive(url)("POST", "/v1/chat/completions", json.dumps(body).encode(),
                                    {"authorization": f"Bearer {key}"})
    assert status == 400 and answer["error"]["param"] == "messages[1].tool_calls[0].function.arguments", answer

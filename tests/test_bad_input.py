"""Bad input answers {"error": {"code", "message"}} with the right status and leaves the
data as it was."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, sign_up


@pytest.fixture
def alice(client):
    return sign_up(client, "alice@example.com")


@pytest.fixture
def chat(client, alice):
    chat = client.post("/api/chats", json={"title": "keep me"}, headers=alice.headers).json()
    client.post(f"/api/chats/{chat['id']}/messages", json={"content": "original"}, headers=alice.headers)
    return chat


def state(client, alice, chat):
    body = client.get(f"/api/chats/{chat['id']}", headers=alice.headers).json()
    return body["chat"]["title"], body["chat"]["pinned"], [m["content"] for m in body["messages"]]


@pytest.mark.parametrize("method, path, kwargs, status, code", [
    ("PATCH", "/api/chats/{id}", {"content": b"{not json", "headers": {"content-type": "application/json"}},
     400, "invalid_json"),
    ("PATCH", "/api/chats/{id}", {"json": {"pinned": "very"}}, 422, "validation_error"),
    ("PATCH", "/api/chats/{id}", {"json": {"title": 42}}, 422, "validation_error"),
    ("PATCH", "/api/chats/{id}", {"json": {"titel": "typo"}}, 422, "validation_error"),
    ("PATCH", "/api/chats/{id}", {"json": ["a", "list"]}, 422, "validation_error"),
    ("PATCH", "/api/chats/{id}", {"json": {"title": "x" * 301}}, 422, "validation_error"),
    ("PATCH", "/api/chats/{id}", {"json": {"title": None}}, 422, "validation_error"),  # null: no meaning here
    ("PATCH", "/api/chats/{id}", {"json": {"pinned": None}}, 422, "validation_error"),
    ("PATCH", "/api/chats/{id}", {"json": {"archived": None}}, 422, "validation_error"),
    ("PATCH", "/api/chats/{id}", {"json": {"params": {"temperature": "hot", "context_chars": "x"}}},
     400, "invalid_params"),
    ("POST", "/api/chats/{id}/messages", {"json": {"content": ""}}, 422, "validation_error"),
    ("POST", "/api/chats/{id}/messages", {"json": {"content": "x", "role": "system"}}, 422, "validation_error"),
    ("POST", "/api/chats/{id}/messages", {"json": {"content": "x" * 200_001}}, 400, "message_too_long"),
    ("GET", "/api/chats", {"params": {"limit": 0}}, 422, "validation_error"),
    ("GET", "/api/chats", {"params": {"cursor": "!!not-a-cursor!!"}}, 400, "invalid_cursor"),
    ("GET", "/api/chats/{id}", {"params": {"limit": "many"}}, 422, "validation_error"),
    ("GET", "/api/chats/00000000-0000-7000-8000-000000000000", {}, 404, "chat_not_found"),
    ("DELETE", "/api/chats/00000000-0000-7000-8000-000000000000", {}, 404, "chat_not_found"),
    ("DELETE", "/api/keys/00000000-0000-7000-8000-000000000000", {}, 404, "api_key_not_found"),
    ("GET", "/api/no-such-route", {}, 404, "not_found"),
    ("PUT", "/api/chats/{id}", {"json": {}}, 405, "method_not_allowed"),
])
def test_bad_requests_get_clear_errors_and_change_nothing(client, alice, chat, method, path, kwargs, status, code):
    before = state(client, alice, chat)
    kwargs = dict(kwargs)  # the parameters are shared by the SQLite and PostgreSQL runs
    headers = {**alice.headers, **kwargs.pop("headers", {})}
    response = client.request(method, path.format(id=chat["id"]), headers=headers, **kwargs)
    assert_error(response, status, code)
    assert state(client, alice, chat) == before


def test_oversized_body_is_refused_with_413(client, alice, chat, settings):
    before = state(client, alice, chat)
    big = b'{"title": "' + b"x" * settings.max_body_bytes + b'"}'
    response = client.patch(f"/api/chats/{chat['id']}", content=big,
                            headers={**alice.headers, "content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert state(client, alice, chat) == before


def test_oversized_body_without_content_length_is_refused_while_reading(client, alice, chat, settings):
    def chunks():
        yield b'{"title": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = client.patch(f"/api/chats/{chat['id']}", content=chunks(),
                            headers={**alice.headers, "content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_import_has_its_own_larger_limit(client, alice, settings):
    doc = {"format": "omnichat.chats", "version": 1,
           "chats": [{"title": "big", "messages": [{"id": "m", "role": "user", "content": "y" * (2 << 20)}]}]}
    assert client.post("/api/chats/import", json=doc, headers=alice.headers).status_code == 201


def test_wrong_auth_scheme_is_unauthenticated(client, alice):
    assert_error(client.get("/api/chats", headers={"authorization": f"Basic {alice.token}"}), 401, "unauthenticated")

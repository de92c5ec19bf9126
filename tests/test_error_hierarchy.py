"""One error hierarchy (omnichat.errors): every error the platform answers with descends from
OmniChatError, the tree drawn in that module's docstring names every class, and each surface
(REST, /v1, WebSocket) maps any of them by itself: the same code and user-facing message
everywhere, the provider's raw detail logged and never sent."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import omnichat.errors
from omnichat.api import errors as rest_errors
from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.errors import AppError, OmniChatError
from omnichat.openai_compat.errors import GatewayError, from_exception
from omnichat.providers.errors import ProviderError, ProviderUnavailable, Throttled
from omnichat.ws import actions, dispatcher
from omnichat.ws.session import WsError, WsSession

SECRET = "connect to 10.1.2.3:11434 refused (ECONNREFUSED)"  # a provider's own words


def _every_subclass(root: type) -> set[type]:
    found: set[type] = set()
    pending = [root]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.startswith("omnichat.") and sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


def test_the_three_former_roots_are_one_tree():
    assert {AppError, ProviderError, GatewayError, WsError} <= _every_subclass(OmniChatError)


def test_the_docstring_tree_names_every_error_class():
    doc = omnichat.errors.__doc__ or ""
    missing = sorted(cls.__name__ for cls in _every_subclass(OmniChatError) if cls.__name__ not in doc)
    assert not missing, f"omnichat.errors' tree does not name: {missing}"


def test_rest_maps_a_provider_error_with_its_status_code_and_message(caplog):
    app = FastAPI()
    rest_errors.install(app)

    @app.get("/fail")
    async def fail() -> None:
        raise ProviderUnavailable(SECRET)

    with caplog.at_level(logging.WARNING), TestClient(app) as client:
        r = client.get("/fail")
    assert r.status_code == 503
    assert r.json() == {"error": {"code": "provider_unavailable", "message": ProviderUnavailable.user_message}}
    assert SECRET in caplog.text  # the operator learns it; the client does not


@pytest.mark.parametrize("error, status, code, retry_after", [
    (ProviderError(SECRET), 500, "provider_error", None),        # 502 is not a status OpenAI's clients know
    (Throttled(SECRET), 429, "rate_limit_exceeded", "1"),
    (AppError("slow down", status=429, code="rate_limited", headers={"Retry-After": "7"}), 429, "rate_limited",
     "7"),
])
def test_v1_maps_every_branch_through_one_function(error, status, code, retry_after):
    mapped = from_exception(error)
    assert (mapped.status, mapped.code, mapped.message) == (status, code, error.message)
    assert {k.lower(): v for k, v in mapped.headers.items()}.get("retry-after") == retry_after
    assert SECRET not in json.dumps(mapped.body())


class _Sink:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def post(self, _connection_id: str, data: bytes) -> None:
        self.sent.append(json.loads(data))


def test_websocket_maps_a_provider_error_escaping_an_action(monkeypatch, caplog):
    async def failing_ping(_s, _frame) -> None:
        raise ProviderUnavailable(SECRET)

    principal = Principal(user_id="u1", email="u1@example.com", role="user")
    monkeypatch.setattr(dispatcher, "current_principal", lambda _url, p: p)  # no database in this test
    monkeypatch.setitem(actions.HANDLERS, "ping", failing_ping)
    sink = _Sink()
    session = WsSession(settings=Settings(), db_url="sqlite://", sink=sink, connection_id="c1", principal=principal)
    with caplog.at_level(logging.WARNING):
        asyncio.run(dispatcher.dispatch(session, json.dumps({"action": "ping", "request_id": "r1"})))
    [event] = sink.sent
    assert (event["type"], event["code"], event["message"]) == ("error", "provider_unavailable",
                                                                ProviderUnavailable.user_message)
    assert event["request_id"] == "r1" and SECRET not in json.dumps(event)
    assert SECRET in caplog.text

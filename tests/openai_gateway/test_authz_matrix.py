"""The gateway's authorization matrix: every route × every kind of caller.

Callers: anonymous, a revoked API key, a pending account (session token), a disabled
account (a key whose owner was set back to pending), a user's key and an admin's key.
Every /v1 route has the same policy (an active account); refused callers get OpenAI's
error shape with 401/403 and cause no model call. `test_matrix_covers_every_route`
fails when a route is added to the gateway without a row here."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.helpers import sign_up
from tests.openai_gateway.conftest import OLLAMA_MODEL, make_key, usage_rows

CALLERS = ("anonymous", "revoked_key", "pending", "disabled_key", "user_key", "admin_key")

# route -> (policy, request body)
MATRIX: dict[tuple[str, str], tuple[str, dict | None]] = {
    ("GET", "/health"): ("public", None),
    ("GET", "/v1/models"): ("active", None),
    ("GET", "/v1/models/{model_id}"): ("active", None),
    ("POST", "/v1/chat/completions"): ("active", {"model": OLLAMA_MODEL,
                                                  "messages": [{"role": "user", "content": "hi [[tokens=2]]"}]}),
    ("POST", "/v1/embeddings"): ("active", {"model": OLLAMA_MODEL, "input": "hello"}),
}

EXPECTED = {  # policy -> caller -> status
    "public": dict.fromkeys(CALLERS, 200),
    "active": {"anonymous": 401, "revoked_key": 401, "pending": 403, "disabled_key": 403, "user_key": 200,
               "admin_key": 200},
}


@dataclass
class World:
    credentials: dict[str, str | None]

    def headers(self, caller: str) -> dict[str, str]:
        credential = self.credentials[caller]
        return {} if credential is None else {"authorization": f"Bearer {credential}"}


@pytest.fixture
def world(client, admin, user, pending) -> World:  # type: ignore[no-untyped-def]
    revoked = sign_up(client, "revoked@example.com")
    revoked_key, revoked_id = make_key(client, revoked)
    assert client.delete(f"/api/keys/{revoked_id}", headers=revoked.headers).status_code == 204
    disabled = sign_up(client, "disabled@example.com")
    disabled_key, _ = make_key(client, disabled)
    r = client.patch(f"/api/admin/users/{disabled.id}", json={"role": "pending"}, headers=admin.account.headers)
    assert r.status_code == 200, r.text
    return World({"anonymous": None, "revoked_key": revoked_key, "pending": pending.token,
                  "disabled_key": disabled_key, "user_key": user.key, "admin_key": admin.key})


def test_matrix_covers_every_route(gateway_app):
    routes = {(method, route.path.replace(":path}", "}")) for route in gateway_app.routes
              for method in route.methods - {"HEAD"}}
    assert routes == set(MATRIX), f"missing: {routes - set(MATRIX)}; stale: {set(MATRIX) - routes}"


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_for_every_caller(route, world, gateway, db_url):
    method, path = route
    policy, body = MATRIX[route]
    url = gateway.url + path.replace("{model_id}", OLLAMA_MODEL)
    outcomes = {}
    with httpx.Client(timeout=20) as http:
        for caller in CALLERS:
            r = http.request(method, url, json=body, headers=world.headers(caller))
            outcomes[caller] = r.status_code
            if r.status_code >= 400:
                error = r.json()["error"]
                assert set(error) == {"message", "type", "param", "code"} and error["message"], error
                assert error["type"] == {401: "authentication_error", 403: "permission_error"}[r.status_code]
    assert outcomes == EXPECTED[policy]
    allowed = sum(1 for c in CALLERS if EXPECTED[policy][c] == 200)
    model_calls = allowed if method == "POST" else 0
    assert len(usage_rows(db_url)) == model_calls  # refused callers never reached a model

"""The gateway's authorization matrix: every route × every kind of caller.

Callers: anonymous, an admin's and a user's API key, a pending account (session token),
a key whose owner was set back to pending, a deleted account (session token), a revoked
key, and a session token after sign-out. Each route's policy is declared once, in
`openai_compat.app.POLICIES` (rules from omnichat.auth.policies); refused callers get
OpenAI's error shape with the status and code every surface uses (tests/refusals.py) and
cause no model call. `test_matrix_covers_every_route` fails when a route is added to the
gateway without a row here."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from omnichat.openai_compat.app import POLICIES
from tests.helpers import sign_up
from tests.openai_gateway.conftest import OLLAMA_MODEL, make_key, usage_rows
from tests.refusals import REFUSALS

CALLERS = ("anonymous", "admin", "user", "pending", "disabled_key", "deleted", "revoked_key", "signed_out")
REFUSED_AS = {"disabled_key": "pending"}  # a caller refused for the condition of another row

# route -> (policy, request body)
MATRIX: dict[tuple[str, str], tuple[str, dict | None]] = {
    ("GET", "/health"): ("public", None),
    ("GET", "/v1/models"): ("active", None),
    ("GET", "/v1/models/{model_id}"): ("active", None),
    ("POST", "/v1/chat/completions"): ("active", {"model": OLLAMA_MODEL,
                                                  "messages": [{"role": "user", "content": "hi [[tokens=2]]"}]}),
    ("POST", "/v1/embeddings"): ("active", {"model": OLLAMA_MODEL, "input": "hello"}),
}


def expected(policy: str, caller: str) -> tuple[int, str | None]:
    if policy == "public" or caller in ("admin", "user"):
        return 200, None
    return REFUSALS[REFUSED_AS.get(caller, caller)]


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
    deleted = sign_up(client, "deleted@example.com")
    r = client.delete(f"/api/admin/users/{deleted.id}", headers=admin.account.headers)
    assert r.status_code == 204, r.text
    signed_out = sign_up(client, "signed-out@example.com")
    assert client.post("/api/auth/signout", headers=signed_out.headers).status_code == 204
    return World({"anonymous": None, "admin": admin.key, "user": user.key, "pending": pending.token,
                  "disabled_key": disabled_key, "deleted": deleted.token, "revoked_key": revoked_key,
                  "signed_out": signed_out.token})


def declared(path: str) -> str:
    """The policy the app declares for a matrix path (`{model_id}` is `{model_id:path}`)."""
    return POLICIES[path.replace("{model_id}", "{model_id:path}")]


def test_matrix_covers_every_route(gateway_app):
    routes = {(method, route.path.replace(":path}", "}")) for route in gateway_app.routes
              for method in route.methods - {"HEAD"}}
    assert routes == set(MATRIX), f"missing: {routes - set(MATRIX)}; stale: {set(MATRIX) - routes}"
    assert {path: declared(path) for _, path in MATRIX} == {path: policy for (_, path), (policy, _) in MATRIX.items()}


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_for_every_caller(route, world, gateway, db_url):
    method, path = route
    policy, body = MATRIX[route]
    url = gateway.url + path.replace("{model_id}", OLLAMA_MODEL)
    outcomes = {}
    with httpx.Client(timeout=20) as http:
        for caller in CALLERS:
            r = http.request(method, url, json=body, headers=world.headers(caller))
            code = None
            if r.status_code >= 400:
                error = r.json()["error"]
                assert set(error) == {"message", "type", "param", "code"} and error["message"], error
                assert error["type"] == {401: "authentication_error", 403: "permission_error"}[r.status_code]
                code = error["code"]
            outcomes[caller] = (r.status_code, code)
    assert outcomes == {caller: expected(policy, caller) for caller in CALLERS}
    allowed = sum(1 for c in CALLERS if expected(policy, c)[0] == 200)
    model_calls = allowed if method == "POST" else 0
    assert len(usage_rows(db_url)) == model_calls  # refused callers never reached a model

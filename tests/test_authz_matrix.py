"""The authorization matrix: every REST route × every kind of caller.

Callers: anonymous, a pending account, the owner of the objects in the path, the owner's
API key, another user, and an admin. For each route the matrix says which policy guards
it; the test proves the outcome for every caller, that a refused caller changed nothing
of the owner's, and that no response to another caller carries the owner's ids.
`test_matrix_covers_every_route` fails when a route is added without a row here."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.helpers import PASSWORD, Account, set_policy, sign_up
from tests.refusals import REFUSALS

ACTORS = ("anonymous", "pending", "owner", "owner_key", "other", "admin")


@dataclass
class World:
    admin: Account
    owner: Account
    other: Account
    pending: Account
    victim: Account
    owner_key: str
    owner_key_id: str
    chat_id: str
    message_id: str
    counter: itertools.count = field(default_factory=itertools.count)

    def headers(self, actor: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        if actor == "owner_key":
            return {"authorization": f"Bearer {self.owner_key}"}
        return getattr(self, actor).headers

    def fill(self, path: str) -> str:
        return path.format(chat_id=self.chat_id, message_id=self.message_id, key_id=self.owner_key_id,
                           user_id=self.victim.id, model_id="ollama/omnichat-test:latest")

    @property
    def owner_secrets(self) -> list[str]:
        return [self.chat_id, self.message_id, self.owner_key_id]


@dataclass(frozen=True)
class Row:
    policy: str  # public | signed_in | session | active | active_session | admin
    owned: bool = False  # the path names an object that belongs to the owner
    body: Callable[[World], object] | None = None
    # Statuses that count as "allowed" besides 2xx (e.g. no model server runs here, so an
    # admin's delete reaches the provider and gets 503: authorized, then unavailable).
    allowed: tuple[int, ...] = ()


IMPORT_DOC = {"format": "omnichat.chats", "version": 1, "chats": [{"title": "imported", "messages": []}]}

MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/api/health"): Row("public"),
    ("GET", "/api/openapi.json"): Row("public"),
    ("GET", "/api/docs"): Row("public"),
    ("GET", "/api/docs/oauth2-redirect"): Row("public"),
    ("GET", "/api/auth/options"): Row("public"),
    ("POST", "/api/auth/signup"): Row("public", body=lambda w: {"email": f"new{next(w.counter)}@example.com",
                                                                 "password": PASSWORD}),
    ("POST", "/api/auth/signin"): Row("public", body=lambda w: {"email": w.owner.email, "password": PASSWORD}),
    ("GET", "/api/auth/me"): Row("signed_in"),
    ("POST", "/api/auth/signout"): Row("session"),
    ("POST", "/api/auth/password"): Row("session", body=lambda w: {"current_password": PASSWORD,
                                                                    "new_password": PASSWORD}),
    ("POST", "/api/auth/ws-ticket"): Row("active"),
    ("GET", "/api/keys"): Row("active_session"),
    ("POST", "/api/keys"): Row("active_session", body=lambda w: {"name": "another"}),
    ("DELETE", "/api/keys/{key_id}"): Row("active_session", owned=True),
    ("GET", "/api/chats"): Row("active"),
    ("POST", "/api/chats"): Row("active", body=lambda w: {"title": "mine"}),
    ("DELETE", "/api/chats"): Row("active"),
    ("GET", "/api/chats/export"): Row("active"),
    ("POST", "/api/chats/import"): Row("active", body=lambda w: IMPORT_DOC),
    ("GET", "/api/chats/{chat_id}"): Row("active", owned=True),
    ("PATCH", "/api/chats/{chat_id}"): Row("active", owned=True, body=lambda w: {"title": "hijacked"}),
    ("DELETE", "/api/chats/{chat_id}"): Row("active", owned=True),
    ("GET", "/api/chats/{chat_id}/messages"): Row("active", owned=True),
    ("POST", "/api/chats/{chat_id}/messages"): Row("active", owned=True, body=lambda w: {"content": "injected"}),
    ("POST", "/api/chats/{chat_id}/messages/{message_id}/edit"): Row("active", owned=True,
                                                                     body=lambda w: {"content": "rewritten"}),
    ("GET", "/api/chats/{chat_id}/messages/{message_id}/siblings"): Row("active", owned=True),
    ("POST", "/api/chats/{chat_id}/switch"): Row("active", owned=True, body=lambda w: {"message_id": w.message_id}),
    ("GET", "/api/models"): Row("active"),
    ("PATCH", "/api/models/{model_id}"): Row("admin", body=lambda w: {"enabled": True}),
    ("POST", "/api/models/pull"): Row("admin", body=lambda w: {"model": "ollama/nothing:1b"}),
    ("GET", "/api/models/pulls"): Row("admin"),
    ("DELETE", "/api/models/{model_id}"): Row("admin", allowed=(503,)),
    ("GET", "/api/admin/users"): Row("admin"),
    ("POST", "/api/admin/users/{user_id}/approve"): Row("admin"),
    ("PATCH", "/api/admin/users/{user_id}"): Row("admin", body=lambda w: {"role": "user"}),
    ("DELETE", "/api/admin/users/{user_id}"): Row("admin"),
    ("GET", "/api/admin/settings"): Row("admin"),
    ("GET", "/api/admin/usage"): Row("admin"),
    ("PUT", "/api/admin/settings"): Row("admin", body=lambda w: {"signup_policy": "open"}),
}


def expected(row: Row, actor: str) -> int | str:
    """The status the actor must get: a number, or "ok" for any 2xx."""
    if row.policy == "public":
        return "ok"
    if actor == "anonymous":
        return 401
    if row.policy == "signed_in":
        return "ok"
    if row.policy == "session":
        return 403 if actor == "owner_key" else "ok"
    if actor == "pending":
        return 403
    if row.policy == "admin":
        return "ok" if actor == "admin" else 403
    if row.policy == "active_session" and actor == "owner_key":
        return 403
    if row.owned and actor in ("other", "admin"):
        return 404  # another user's object does not exist for you, admins included
    return "ok"


def refusal(row: Row, actor: str) -> str | None:
    """The condition (a key of tests/refusals.py) the actor is refused for, if any."""
    if actor == "anonymous":
        return "anonymous"
    if actor == "pending" and row.policy in ("active", "active_session", "admin"):
        return "pending"
    if row.policy == "admin" and actor in ("owner", "other"):
        return "not_admin"
    return None


def build_world(client) -> World:
    admin = sign_up(client, "admin@example.com")
    owner = sign_up(client, "owner@example.com")
    other = sign_up(client, "other@example.com")
    victim = sign_up(client, "victim@example.com")
    set_policy(client, admin, "approval")
    pending = sign_up(client, "pending@example.com")
    set_policy(client, admin, "open")
    chat_id = client.post("/api/chats", json={"title": "owner's chat"}, headers=owner.headers).json()["id"]
    message_id = client.post(f"/api/chats/{chat_id}/messages", json={"content": "secret"},
                             headers=owner.headers).json()["id"]
    key = client.post("/api/keys", json={"name": "owner key"}, headers=owner.headers).json()
    return World(admin, owner, other, pending, victim, key["key"], key["id"], chat_id, message_id)


def owner_state(client, world: World) -> tuple:
    chat = client.get(f"/api/chats/{world.chat_id}", headers=world.owner.headers).json()
    keys = client.get("/api/keys", headers=world.owner.headers).json()
    return (chat["chat"]["title"], chat["chat"]["current_leaf_id"], chat["chat"]["message_count"],
            [m["content"] for m in chat["messages"]], [k["id"] for k in keys])


def served_routes(app) -> set[tuple[str, str]]:
    """Every route the app serves: its OpenAPI schema plus the schema and docs pages."""
    routes = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    docs = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url}
    return routes | {("GET", p) for p in docs if p}


def test_matrix_covers_every_route(app):
    routes = served_routes(app)
    assert routes == set(MATRIX), f"missing: {routes - set(MATRIX)}; stale: {set(MATRIX) - routes}"


CASES = [(method, path, actor) for (method, path) in MATRIX for actor in ACTORS
         if MATRIX[(method, path)].policy != "public" or actor == "anonymous"]


@pytest.mark.parametrize("method, path, actor", CASES, ids=[f"{m} {p} as {a}" for m, p, a in CASES])
def test_route_as_actor(client, method, path, actor):
    world = build_world(client)
    row = MATRIX[(method, path)]
    before = owner_state(client, world)
    body = row.body(world) if row.body else None
    response = client.request(method, world.fill(path), headers=world.headers(actor),
                              **({"json": body} if body is not None else {}))
    want = expected(row, actor)
    if want == "ok":
        ok = 200 <= response.status_code < 300 or response.status_code in row.allowed
        assert ok, f"{response.status_code}: {response.text}"
    else:
        assert response.status_code == want, f"{response.status_code}: {response.text}"
        assert response.json()["error"]["code"]
        condition = refusal(row, actor)
        if condition:  # the code every surface answers for this condition
            assert (response.status_code, response.json()["error"]["code"]) == REFUSALS[condition]
        assert owner_state(client, world) == before, "a refused request changed the owner's data"
    if actor not in ("owner", "owner_key") and response.headers.get("content-type", "").startswith("application/json"):
        leaked = [s for s in world.owner_secrets if s in response.text]
        assert not leaked, f"response to {actor} carries the owner's ids: {leaked}"


def test_ended_credentials_are_refused_on_every_route(client):
    """A session signed out, an account deleted, an API key revoked: every route that is not
    public answers 401 with the code every surface uses, and nothing of the owner's changes."""
    world = build_world(client)
    leaver = sign_up(client, "leaver@example.com")
    assert client.post("/api/auth/signout", headers=leaver.headers).status_code == 204
    deleted = sign_up(client, "deleted@example.com")
    assert client.delete(f"/api/admin/users/{deleted.id}", headers=world.admin.headers).status_code == 204
    key = client.post("/api/keys", json={"name": "to revoke"}, headers=world.owner.headers).json()
    assert client.delete(f"/api/keys/{key['id']}", headers=world.owner.headers).status_code == 204
    callers = {"signed_out": leaver.headers, "deleted": deleted.headers,
               "revoked_key": {"authorization": f"Bearer {key['key']}"}}
    before = owner_state(client, world)
    for (method, path), row in MATRIX.items():
        if row.policy == "public":
            continue
        body = row.body(world) if row.body else None
        for condition, headers in callers.items():
            response = client.request(method, world.fill(path), headers=headers,
                                      **({"json": body} if body is not None else {}))
            got = (response.status_code, response.json()["error"]["code"])
            assert got == REFUSALS[condition], f"{method} {path} as {condition}: {response.text}"
    assert owner_state(client, world) == before

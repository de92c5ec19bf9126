"""The authorization matrix: every REST route × every kind of caller.

Callers: anonymous, a pending account, the owner of the objects in the path, the owner's
API key, another user, and an admin. For each route the matrix says which policy guards
it; the test proves the outcome for every caller, that a refused caller changed nothing
stored (the owner's data or anyone's: `GUARDED`), and that no response to another caller
carries the owner's ids.
`test_matrix_covers_every_route` fails when a route is added without a row here.

One test a route, every caller in turn: the refused callers first, on one world (each
refusal is checked to change nothing, so the next caller finds the world as it was, and the
rows read after one refusal are what the next is compared with), then
the allowed ones. A route that only reads lets them share that world; on a route that
writes, each allowed caller after the first gets a world of its own. Building a world is
most of the cost, so this is the same matrix for a fraction of the work of one world per
route and caller; and a world is built through the API once per database, then restored
from its rows (`fresh_world`)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from omnichat.db.engine import session_scope
from omnichat.db.models import Base
from tests.conftest import wipe
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
    preset_id: str  # the owner's own preset
    global_preset_id: str  # an admin's, for everyone
    group_id: str  # a local group the owner belongs to
    share_id: str  # a share link of the owner's chat
    share_token: str
    folder_id: str  # a folder of the owner's
    file_id: str = ""  # an image of the owner's, in their collection
    collection_id: str = ""  # the owner's collection
    chunk_id: str = ""  # a passage of that file
    upload_form: dict = field(default_factory=dict)  # a direct upload the owner started (local form)
    counter: itertools.count = field(default_factory=itertools.count)

    def headers(self, actor: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        if actor == "owner_key":
            return {"authorization": f"Bearer {self.owner_key}"}
        return getattr(self, actor).headers

    def fill(self, path: str) -> str:
        preset_id = self.global_preset_id if path.startswith("/api/admin/") else self.preset_id
        return path.format(chat_id=self.chat_id, message_id=self.message_id, key_id=self.owner_key_id,
                           user_id=self.victim.id, model_id="ollama/omnichat-test:latest", preset_id=preset_id,
                           group_id=self.group_id, share_id=self.share_id, token=self.share_token,
                           folder_id=self.folder_id, tag="x", file_id=self.file_id,
                           collection_id=self.collection_id, chunk_id=self.chunk_id,
                           upload_id=self.upload_form.get("file_id", ""))

    @property
    def owner_secrets(self) -> list[str]:
        return [self.chat_id, self.message_id, self.owner_key_id, self.preset_id, self.share_id, self.folder_id,
                self.file_id, self.collection_id, self.chunk_id]


@dataclass(frozen=True)
class Row:
    policy: str  # public | signed_in | session | active | active_session | admin
    owned: bool = False  # the path names an object that belongs to the owner
    body: Callable[[World], object] | None = None
    # Statuses that count as "allowed" besides 2xx (e.g. no model server runs here, so an
    # admin's delete reaches the provider and gets 503: authorized, then unavailable).
    allowed: tuple[int, ...] = ()
    # The owner's key id is this admin route's subject (a budget on that key): it may say it.
    names_key: bool = False
    # A multipart/form-data body instead of JSON: (form fields, files) for httpx.
    form: Callable[[World], tuple[dict, dict]] | None = None


def new_preset(w: World) -> dict[str, str]:
    # No model server runs here: a base whose provider cannot be listed is not judged.
    return {"slug": f"p{next(w.counter)}", "name": "P", "base_model": "ollama/omnichat-test:latest"}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # an image: ready at once, nothing queued for an indexer


def local_upload(w: World) -> tuple[dict, dict]:
    """The owner's direct upload's form and its file (the form is the credential)."""
    return w.upload_form["fields"], {"file": ("up.png", PNG)}


IMPORT_DOC = {"format": "omnichat.chats", "version": 1, "chats": [{"title": "imported", "messages": []}]}

MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/api/health"): Row("public"),
    ("GET", "/api/openapi.json"): Row("public"),
    ("GET", "/api/docs"): Row("public"),
    ("GET", "/api/docs/oauth2-redirect"): Row("public"),
    ("GET", "/api/auth/options"): Row("public"),
    # Single sign-on is not configured here: start says so (404); a callback without a
    # state goes back to the page (which 404s in this API-only app); a made-up code is a 400.
    ("GET", "/api/auth/sso/start"): Row("public", allowed=(404,)),
    ("GET", "/api/auth/sso/callback"): Row("public", allowed=(404,)),
    ("POST", "/api/auth/sso/exchange"): Row("public", body=lambda w: {"code": "made-up"}, allowed=(400,)),
    ("POST", "/api/auth/signup"): Row("public", body=lambda w: {"email": f"new{next(w.counter)}@example.com",
                                                                 "password": PASSWORD}),
    ("POST", "/api/auth/signin"): Row("public", body=lambda w: {"email": w.owner.email, "password": PASSWORD}),
    ("GET", "/api/auth/me"): Row("signed_in"),
    ("POST", "/api/auth/signout"): Row("session"),
    ("POST", "/api/auth/password"): Row("session", body=lambda w: {"current_password": PASSWORD,
                                                                    "new_password": PASSWORD}),
    ("PATCH", "/api/auth/me"): Row("session", body=lambda w: {"name": "Renamed"}),
    ("GET", "/api/auth/preferences"): Row("session"),
    ("PATCH", "/api/auth/preferences"): Row("session", body=lambda w: {"theme": "dark"}),
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
    ("POST", "/api/chats/{chat_id}/shares"): Row("active", owned=True),
    ("GET", "/api/chats/{chat_id}/shares"): Row("active", owned=True),
    ("GET", "/api/shares"): Row("active"),
    ("DELETE", "/api/shares/{share_id}"): Row("active", owned=True),
    # No sign-in: the token is the credential, and the answer names none of the owner's ids.
    ("GET", "/api/shared/{token}"): Row("public"),
    ("GET", "/api/folders"): Row("active"),
    ("POST", "/api/folders"): Row("active", body=lambda w: {"name": f"f{next(w.counter)}"}),
    ("PATCH", "/api/folders/{folder_id}"): Row("active", owned=True, body=lambda w: {"name": "hijacked"}),
    ("DELETE", "/api/folders/{folder_id}"): Row("active", owned=True),
    ("POST", "/api/chats/move"): Row("active", owned=True, body=lambda w: {"chat_ids": [w.chat_id],
                                                                          "folder_id": None}),
    ("GET", "/api/tags"): Row("active"),
    ("PUT", "/api/chats/{chat_id}/tags/{tag}"): Row("active", owned=True),
    ("DELETE", "/api/chats/{chat_id}/tags/{tag}"): Row("active", owned=True),
    ("POST", "/api/chats/{chat_id}/switch"): Row("active", owned=True, body=lambda w: {"message_id": w.message_id}),
    ("GET", "/api/models"): Row("active"),
    ("PATCH", "/api/models/{model_id}"): Row("admin", body=lambda w: {"enabled": True}),
    ("POST", "/api/models/pull"): Row("admin", body=lambda w: {"model": "ollama/nothing:1b"}),
    ("GET", "/api/models/pulls"): Row("admin"),
    ("POST", "/api/models/load"): Row("admin", body=lambda w: {"model": "ollama/omnichat-test:latest"}, allowed=(503,)),
    ("POST", "/api/models/create"): Row("admin", body=lambda w: {"model": "ollama/made:latest",
                                                                  "from": "ollama/omnichat-test:latest"},
                                        allowed=(503,)),
    ("DELETE", "/api/models/{model_id}"): Row("admin", allowed=(503,)),
    ("GET", "/api/presets"): Row("active"),
    ("POST", "/api/presets"): Row("active", body=new_preset),
    ("GET", "/api/presets/{preset_id}"): Row("active", owned=True),
    ("PATCH", "/api/presets/{preset_id}"): Row("active", owned=True, body=lambda w: {"name": "hijacked"}),
    ("DELETE", "/api/presets/{preset_id}"): Row("active", owned=True),
    ("GET", "/api/admin/presets"): Row("admin"),
    ("POST", "/api/admin/presets"): Row("admin", body=new_preset),
    ("GET", "/api/admin/presets/{preset_id}"): Row("admin"),
    ("PATCH", "/api/admin/presets/{preset_id}"): Row("admin", body=lambda w: {"name": "renamed"}),
    ("DELETE", "/api/admin/presets/{preset_id}"): Row("admin"),
    ("GET", "/api/admin/ollama/nodes"): Row("admin"),
    ("GET", "/api/admin/users"): Row("admin"),
    ("POST", "/api/admin/users/{user_id}/approve"): Row("admin"),
    ("PATCH", "/api/admin/users/{user_id}"): Row("admin", body=lambda w: {"role": "user"}),
    ("DELETE", "/api/admin/users/{user_id}"): Row("admin"),
    ("GET", "/api/admin/settings"): Row("admin"),
    ("GET", "/api/admin/groups"): Row("admin"),
    ("POST", "/api/admin/groups"): Row("admin", body=lambda w: {"name": f"g{next(w.counter)}"}),
    ("PATCH", "/api/admin/groups/{group_id}"): Row("admin", body=lambda w: {"name": "renamed"}),
    ("DELETE", "/api/admin/groups/{group_id}"): Row("admin"),
    ("GET", "/api/admin/groups/{group_id}/members"): Row("admin"),
    ("POST", "/api/admin/groups/{group_id}/members"): Row("admin", body=lambda w: {"user_id": w.victim.id}),
    ("DELETE", "/api/admin/groups/{group_id}/members/{user_id}"): Row("admin"),
    ("GET", "/api/admin/usage"): Row("admin"),
    ("GET", "/api/auth/budget"): Row("active"),  # one's own remaining budget
    ("GET", "/api/admin/usage/costs"): Row("admin"),
    ("GET", "/api/admin/prices"): Row("admin"),
    ("PUT", "/api/admin/prices/{model_id}"): Row("admin", body=lambda w: {"input_per_mtok": 1.0}),
    ("DELETE", "/api/admin/prices/{model_id}"): Row("admin", allowed=(404,)),
    ("GET", "/api/admin/budgets"): Row("admin"),
    ("PUT", "/api/admin/budgets/users/{user_id}"): Row("admin", body=lambda w: {"tokens_per_day": 1000}),
    ("DELETE", "/api/admin/budgets/users/{user_id}"): Row("admin", allowed=(404,)),
    ("PUT", "/api/admin/budgets/groups/{group_id}"): Row("admin", body=lambda w: {"tokens_per_day": 1000}),
    ("DELETE", "/api/admin/budgets/groups/{group_id}"): Row("admin", allowed=(404,)),
    ("PUT", "/api/admin/budgets/keys/{key_id}"): Row("admin", body=lambda w: {"tokens_per_day": 1000},
                                                     names_key=True),
    ("DELETE", "/api/admin/budgets/keys/{key_id}"): Row("admin", allowed=(404,)),
    ("PUT", "/api/admin/settings"): Row("admin", body=lambda w: {"signup_policy": "open"}),
    # Only admins read the audit log; it names the keys users created and revoked.
    ("GET", "/api/admin/audit"): Row("admin", names_key=True),
    ("GET", "/api/admin/audit/export"): Row("admin"),
    ("GET", "/api/admin/audit/settings"): Row("admin"),
    ("PUT", "/api/admin/audit/settings"): Row("admin", body=lambda w: {"retention_days": 90}),
    ("POST", "/api/files"): Row("active", form=lambda w: ({}, {"file": ("a.png", PNG)})),
    ("POST", "/api/files/uploads"): Row("active", body=lambda w: {"name": "b.png", "size": len(PNG)}),
    # The owner's file is complete already: completing it again answers it as it is.
    ("POST", "/api/files/{file_id}/complete"): Row("active", owned=True),
    ("GET", "/api/files"): Row("active"),
    ("GET", "/api/files/{file_id}"): Row("active", owned=True),
    ("GET", "/api/files/{file_id}/content"): Row("active", owned=True),
    ("GET", "/api/files/{file_id}/passages/{chunk_id}"): Row("active", owned=True),
    ("DELETE", "/api/files/{file_id}"): Row("active", owned=True),
    # No sign-in: the signed, single-use form is the credential (as S3's presigned POST).
    ("POST", "/api/files/{upload_id}/upload"): Row("public", form=local_upload),
    ("GET", "/api/collections"): Row("active"),
    ("POST", "/api/collections"): Row("active", body=lambda w: {"name": f"c{next(w.counter)}"}),
    ("GET", "/api/collections/{collection_id}"): Row("active", owned=True),
    ("PATCH", "/api/collections/{collection_id}"): Row("active", owned=True, body=lambda w: {"name": "hijacked"}),
    ("DELETE", "/api/collections/{collection_id}"): Row("active", owned=True),
    # The owner shares with a group they belong to (the world's group); an admin has no
    # say over another user's collection.
    ("PUT", "/api/collections/{collection_id}/groups/{group_id}"): Row("active", owned=True),
    ("DELETE", "/api/collections/{collection_id}/groups/{group_id}"): Row("active", owned=True),
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
    base = {"name": "P", "base_model": "ollama/omnichat-test:latest"}
    preset = client.post("/api/presets", json={"slug": "owners", **base}, headers=owner.headers).json()
    shared = client.post("/api/admin/presets", json={"slug": "shared", **base}, headers=admin.headers).json()
    group = client.post("/api/admin/groups", json={"name": "team"}, headers=admin.headers).json()
    for member in (owner, victim):
        r = client.post(f"/api/admin/groups/{group['id']}/members", json={"user_id": member.id},
                        headers=admin.headers)
        assert r.status_code == 204, r.text
    client.put("/api/admin/settings", json={"sharing_enabled": True}, headers=admin.headers)
    link = client.post(f"/api/chats/{chat_id}/shares", headers=owner.headers).json()
    folder = client.post("/api/folders", json={"name": "owner's"}, headers=owner.headers).json()
    world = World(admin, owner, other, pending, victim, key["key"], key["id"], chat_id, message_id, preset["id"],
                  shared["id"], group["id"], link["id"], link["token"], folder["id"])
    add_documents(client, world)
    return world


def add_documents(client, world: World) -> None:
    """The owner's collection, an image in it with a passage, and a direct upload started."""
    from omnichat.db import lite
    from omnichat.ids import new_id

    owner = world.owner
    world.collection_id = client.post("/api/collections", json={"name": "owner's"}, headers=owner.headers).json()["id"]
    world.file_id = client.post("/api/files", files={"file": ("owner.png", PNG)}, data={
        "collection_id": world.collection_id}, headers=owner.headers).json()["id"]
    world.chunk_id = new_id()
    lite.run(client.app.state.settings.resolved_database_url, lambda db: db.insert("chunks", {
        "id": world.chunk_id, "file_id": world.file_id, "ordinal": 0, "text": "a passage"}))
    started = client.post("/api/files/uploads", json={"name": "up.png", "size": len(PNG)}, headers=owner.headers).json()
    world.upload_form = {"file_id": started["file"]["id"], **started["upload"]}


# A world per database, built once through the API and then restored: its rows as they were
# (the same ids, sessions and keys) and its stored files, copied into the test's home.
_SAVED: dict[str, tuple[World, dict[str, list[dict[str, Any]]], Path]] = {}


def fresh_world(client, db_url: str) -> World:
    """A world in an otherwise empty database: `build_world`'s, for a fraction of its cost
    (building one is most of the matrix's work)."""
    home = client.app.state.settings.home
    if db_url not in _SAVED:
        wipe(db_url)
        world = build_world(client)
        with session_scope(db_url) as s:
            rows = {t.name: [dict(r._mapping) for r in s.execute(select(t))] for t in Base.metadata.sorted_tables}
        _SAVED[db_url] = replace(world, counter=itertools.count()), rows, home
        return world
    world, rows, built_in = _SAVED[db_url]
    wipe(db_url)
    with session_scope(db_url) as s:
        for table in Base.metadata.sorted_tables:  # parents first
            if rows[table.name]:
                s.execute(insert(table), rows[table.name])
    if built_in != home:
        shutil.copytree(built_in / "files", home / "files", dirs_exist_ok=True)
    return replace(world, counter=itertools.count())


# What a refused request must leave as it was: every row of these tables (the owner's
# chats, keys, presets, groups, shares, folders, files and collections, and everyone
# else's), read from the database, all but a key's last use (a refused key was still used).
GUARDED = ("users", "chats", "messages", "api_keys", "presets", "preset_users", "preset_groups", "groups",
           "group_members", "chat_shares", "folders", "chat_folders", "chat_tags", "collections",
           "collection_groups", "files", "chunks", "settings", "budgets", "model_prices")
VOLATILE = {"last_used_at"}


def stored_state(client) -> tuple:
    """The guarded tables' rows, in a stable order: one SELECT a table, where asking the API for
    the owner's view took five requests (most of the matrix's cost)."""
    tables = [Base.metadata.tables[name] for name in GUARDED]
    with session_scope(client.app.state.settings.resolved_database_url) as s:
        return tuple(sorted(tuple((c, row[c]) for c in row if c not in VOLATILE)
                            for row in (r._mapping for r in s.execute(select(t))))
                     for t in tables)


def served_routes(app) -> set[tuple[str, str]]:
    """Every route the app serves: its OpenAPI schema plus the schema and docs pages."""
    routes = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    docs = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url}
    return routes | {("GET", p) for p in docs if p}


def test_matrix_covers_every_route(app):
    routes = served_routes(app)
    assert routes == set(MATRIX), f"missing: {routes - set(MATRIX)}; stale: {set(MATRIX) - routes}"


def callers(method: str, path: str) -> list[str]:
    """The callers a route is tried with, the refused ones first."""
    row = MATRIX[(method, path)]
    actors = ACTORS if row.policy != "public" else ("anonymous",)
    return sorted(actors, key=lambda actor: expected(row, actor) == "ok")


@pytest.mark.parametrize("method, path", list(MATRIX), ids=[f"{m} {p}" for m, p in MATRIX])
def test_route_for_every_caller(client, db_url, method, path):
    row = MATRIX[(method, path)]
    failures: list[str] = []
    world, changed = fresh_world(client, db_url), False
    state = None  # the guarded rows as the last refused caller left them: the next one's "before"
    for actor in callers(method, path):
        want = expected(row, actor)
        if want == "ok" and changed:  # the last caller was allowed to change the world
            world = fresh_world(client, db_url)
        changed = want == "ok" and method != "GET"
        if want != "ok" and state is None:
            state = stored_state(client)
        try:
            state = call_as(client, world, row, method, path, actor, want, state)
        except AssertionError as error:
            failures.append(f"as {actor}: {error}")
            state = None
    assert not failures, "\n".join(failures)


def call_as(client, world: World, row: Row, method: str, path: str, actor: str, want: int | str,
            before: tuple | None) -> tuple | None:
    """One call; for a refused caller, the guarded rows after it (checked equal to `before`)."""
    after = None
    body = row.body(world) if row.body else None
    form = row.form(world) if row.form else None
    response = client.request(method, world.fill(path), headers=world.headers(actor),
                              **({"json": body} if body is not None else {}),
                              **({"data": form[0], "files": form[1]} if form is not None else {}))
    if want == "ok":
        ok = 200 <= response.status_code < 300 or response.status_code in row.allowed
        assert ok, f"{response.status_code}: {response.text}"
    else:
        assert response.status_code == want, f"{response.status_code}: {response.text}"
        assert response.json()["error"]["code"]
        condition = refusal(row, actor)
        if condition:  # the code every surface answers for this condition
            assert (response.status_code, response.json()["error"]["code"]) == REFUSALS[condition]
        after = stored_state(client)
        assert after == before, "a refused request changed stored data"
    if actor not in ("owner", "owner_key") and response.headers.get("content-type", "").startswith("application/json"):
        leaked = [s for s in world.owner_secrets if s in response.text
                  and not (row.names_key and actor == "admin" and s == world.owner_key_id)]
        assert not leaked, f"response to {actor} carries the owner's ids: {leaked}"
    return after


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
    before = stored_state(client)
    for (method, path), row in MATRIX.items():
        if row.policy == "public":
            continue
        body = row.body(world) if row.body else None
        for condition, headers in callers.items():
            response = client.request(method, world.fill(path), headers=headers,
                                      **({"json": body} if body is not None else {}))
            got = (response.status_code, response.json()["error"]["code"])
            assert got == REFUSALS[condition], f"{method} {path} as {condition}: {response.text}"
    assert stored_state(client) == before

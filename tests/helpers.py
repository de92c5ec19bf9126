"""Small helpers for REST tests: accounts and authorization headers; CloudFormation's side
of a custom resource."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from fastapi.testclient import TestClient

from local.serve import LoopbackHTTPServer
from omnichat.auth.principal import Principal
from omnichat.db.engine import session_scope
from omnichat.db.models import User

PASSWORD = "correct horse battery"


@dataclass
class Account:
    id: str
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def sign_up(client: TestClient, email: str, password: str = PASSWORD, name: str = "") -> Account:
    r = client.post("/api/auth/signup", json={"email": email, "password": password, "name": name})
    assert r.status_code == 202, r.text  # the same answer for a new and a taken email: sign in next
    r = client.post("/api/auth/signin", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    return Account(body["user"]["id"], email, body["user"]["role"], body["access_token"])


def at(app: Any, address: str) -> TestClient:
    """The app as reached from client `address` (what API Gateway's sourceIp gives it)."""
    async def from_address(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "client": (address, 50000)}
        await app(scope, receive, send)

    return TestClient(from_address)


def set_policy(client: TestClient, admin: Account, policy: str) -> None:
    r = client.put("/api/admin/settings", json={"signup_policy": policy}, headers=admin.headers)
    assert r.status_code == 200, r.text


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the API's standard error shape with this status (and code)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def load_function(name: str):  # type: ignore[no-untyped-def]
    """Import functions/<name>/app.py the way Lambda does: as a fresh top-level module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"omnichat_function_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_user(db_url: str, email: str, role: str = "user") -> Principal:
    """A user straight in the database (no sign-up round trip), as its principal."""
    with session_scope(db_url) as db:
        user = User(email=email, password_hash="-", role=role)
        db.add(user)
        db.flush()
        return Principal(user.id, user.email, user.role)


class CfnResponses(LoopbackHTTPServer):
    """CloudFormation's side of a custom resource: `url`, where the function PUTs its answer
    (as to the presigned S3 URL in a real event), and the answers `received`."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Receiver(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Receiver)
        self.received = received
        self.url = f"http://127.0.0.1:{self.server_port}/cfn-response"

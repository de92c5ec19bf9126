"""Consistency between template.yaml and the code: every function in the template has an
importable handler where its CodeUri and Handler say, and every HTTP and WebSocket route
in the template reaches a route the handler actually serves.

These fail (they are not skipped) while a handler is still being written: the template
promises it."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from local.serve import PostRecorder

from .cfn import invoked_function, sub_text
from .conftest import ROOT

EVENTS = ROOT / "events"


def entry_points(functions: dict[str, Any], template: dict[str, Any]) -> dict[str, tuple[Path, str]]:
    """function -> (module file, attribute): app.handler -> (app.py, handler); a Lambda Web
    Adapter function (run.sh) serves the ASGI `app` of its app.py."""
    default = template["Globals"]["Function"]["Handler"]
    found = {}
    for name, f in functions.items():
        code = ROOT / f["Properties"]["CodeUri"]
        handler = f["Properties"].get("Handler", default)
        if handler == "run.sh":
            found[name] = (code / "app.py", "app")
        else:
            module, attribute = handler.rsplit(".", 1)
            found[name] = (code / f"{module.replace('.', '/')}.py", attribute)
    return found


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"omnichat_stack_check_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_function_names_an_existing_handler(functions: dict[str, Any], template: dict[str, Any]) -> None:
    problems = []
    for name, (path, attribute) in entry_points(functions, template).items():
        if not path.is_file():
            problems.append(f"{name}: {path.relative_to(ROOT)} does not exist")
            continue
        tree = ast.parse(path.read_text())
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        defined |= {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        if attribute not in defined:
            problems.append(f"{name}: {path.relative_to(ROOT)} defines no top-level {attribute!r}")
    assert problems == []


def test_every_handler_imports_like_lambda_imports_it(functions: dict[str, Any], template: dict[str, Any],
                                                      lambda_env: Path) -> None:
    for name, (path, attribute) in entry_points(functions, template).items():
        module = load(path, name)
        assert callable(getattr(module, attribute)), f"{name}: {attribute} is not callable"


def test_gateway_start_script_runs_its_app_with_uvicorn(functions: dict[str, Any]) -> None:
    script = ROOT / functions["GatewayFunction"]["Properties"]["CodeUri"] / "run.sh"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert "exec python -m uvicorn app:app" in text and "/opt/python" in text and "127.0.0.1" in text


# -- HTTP routes -------------------------------------------------------------------------
@pytest.fixture
def lambda_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Local-mode settings: a migrated SQLite file, fixed secrets, fake AWS credentials and
    unreachable AWS/Ollama endpoints (nothing may leave the machine)."""
    from omnichat.config import get_settings
    from omnichat.db import migrate

    db = tmp_path / "omnichat.db"
    migrate.upgrade(f"sqlite:///{db}")
    for key, value in {
        "DATABASE_URL": f"sqlite:///{db}", "OMNICHAT_HOME": str(tmp_path), "OMNICHAT_ENV": "local",
        "OMNICHAT_JWT_SECRET": "stack-check-secret-" + "x" * 32, "OLLAMA_HOST": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "POWERTOOLS_METRICS_NAMESPACE": "OmniChatTest",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


CONTEXT = SimpleNamespace(function_name="stack-check", function_version="$LATEST", aws_request_id="req-1",
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stack-check",
                          memory_limit_in_mb=512, log_stream_name="stream", get_remaining_time_in_millis=lambda: 60_000)


def http_event(path: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "http-api-health.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    return event


def prefixes(functions: dict[str, Any], name: str) -> list[str]:
    return [e["Properties"]["Path"].replace("{proxy+}", "") for e in functions[name]["Properties"]["Events"].values()]


def test_api_routes_are_all_served_under_the_templates_api_route(functions: dict[str, Any], lambda_env: Path) -> None:
    (prefix,) = prefixes(functions, "ApiFunction")
    api = load(ROOT / "functions/api/app.py", "api")
    response = api.handler(http_event(f"{prefix}openapi.json"), CONTEXT)
    assert response["statusCode"] == 200, response
    paths = list(json.loads(response["body"])["paths"])
    print(f"ApiFunction serves {len(paths)} paths, all under {prefix}")
    assert paths and all(p.startswith(prefix) for p in paths), [p for p in paths if not p.startswith(prefix)]
    assert api.handler(http_event(f"{prefix}health"), CONTEXT)["statusCode"] == 200


def test_gateway_serves_the_templates_v1_route(functions: dict[str, Any], lambda_env: Path) -> None:
    """The gateway's ASGI app (what run.sh serves) answers a known /v1 route, and tells it
    apart from an unknown one."""
    import httpx

    (prefix,) = prefixes(functions, "GatewayApiFunction")
    app = load(ROOT / "functions/gateway/app.py", "gateway").app

    async def get(path: str) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return (await client.get(path)).status_code

    known, unknown = asyncio.run(get(f"{prefix}models")), asyncio.run(get(f"{prefix}no-such-route"))
    print(f"GatewayApiFunction: GET {prefix}models -> {known}, GET {prefix}no-such-route -> {unknown}")
    assert known in (200, 401)  # reached the route (401: no API key given)
    assert unknown == 404


# -- WebSocket routes --------------------------------------------------------------------
@pytest.fixture
def connections(lambda_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PostRecorder]:
    """A stand-in for API Gateway's @connections endpoint that keeps what is posted."""
    with PostRecorder() as server:
        monkeypatch.setenv("OMNICHAT_WS_ENDPOINT", server.url)
        yield server


def ws_routes(resources: dict[str, Any]) -> dict[str, str]:
    """route key -> the function its integration invokes."""
    integrations = {n: invoked_function(r["Properties"]["IntegrationUri"]).split(".")[0]
                    for n, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Integration"}
    return {r["Properties"]["RouteKey"]: integrations[sub_text(r["Properties"]["Target"])[len("integrations/${"):-1]]
            for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}


def test_websocket_actions_and_routes_match(resources: dict[str, Any]) -> None:
    from omnichat.ws import schemas

    custom = {key for key in ws_routes(resources) if not key.startswith("$")}
    assert custom == set(schemas.ACTIONS), "route keys in template.yaml and actions in omnichat.ws.schemas differ"


def _admin(db_url: str) -> tuple[str, str]:
    """An admin and a signed-in session of theirs (a connection rides on a credential)."""
    from datetime import timedelta

    from omnichat.db.engine import session_scope
    from omnichat.db.models import AuthSession, User, utcnow

    with session_scope(db_url) as db:
        user = User(email="stack-check@example.com", name="", password_hash="x", role="admin")
        db.add(user)
        db.flush()
        session = AuthSession(user_id=user.id, expires_at=utcnow() + timedelta(hours=1))
        db.add(session)
        db.flush()
        return user.id, session.id


def test_every_websocket_route_reaches_a_handler_route(resources: dict[str, Any], functions: dict[str, Any],
                                                       template: dict[str, Any], connections: PostRecorder) -> None:
    routes = ws_routes(resources)
    authorizer_uri = sub_text(resources["WsAuthorizer"]["Properties"]["AuthorizerUri"])
    authorizer_function = authorizer_uri.split("${", 3)[3].split(".Arn")[0]
    modules = {name: load(path, f"ws_{name}") for name, (path, _) in entry_points(functions, template).items()
               if name in set(routes.values()) | {authorizer_function}}
    user_id, session_id = _admin(os.environ["DATABASE_URL"])
    authorizer = {"userId": user_id, "role": "admin", "email": "stack-check@example.com", "principalId": user_id,
                  "sessionId": session_id}

    auth_event = json.loads((EVENTS / "ws-authorizer-request.json").read_text())
    auth_event["queryStringParameters"] = {"v": "1"}  # no ticket: refused, by the handler
    decision = modules[authorizer_function].handler(auth_event, CONTEXT)
    assert decision["policyDocument"]["Statement"][0]["Effect"] == "Deny"

    connect = json.loads((EVENTS / "ws-connect.json").read_text())
    connect["requestContext"]["authorizer"] = authorizer
    assert modules[routes["$connect"]].handler(connect, CONTEXT)["statusCode"] == 200
    disconnect = json.loads((EVENTS / "ws-disconnect.json").read_text())
    assert modules[routes["$disconnect"]].handler(disconnect, CONTEXT)["statusCode"] == 200

    message = json.loads((EVENTS / "ws-message.json").read_text())
    message["requestContext"]["authorizer"] = authorizer
    for key, function in sorted(routes.items()):
        if key in ("$connect", "$disconnect"):
            continue
        connections.frames.clear()
        event = json.loads(json.dumps(message))
        event["requestContext"]["routeKey"] = key
        # The smallest frame for the route: API Gateway picked the route from "action".
        event["body"] = json.dumps({"action": key, "request_id": "stack-check"} if key != "$default"
                                   else {"request_id": "stack-check"})
        modules[function].handler(event, CONTEXT)
        codes = [f.get("code") for f in connections.frames if f.get("type") == "error"]
        print(f"{key:16} -> {function}: {[f.get('type') for f in connections.frames]} {codes}")
        assert connections.frames, f"{key}: the handler posted nothing back"
        if key == "$default":
            assert codes == ["unknown_action"]
        elif key == "ping":
            assert [f["type"] for f in connections.frames] == ["pong"]
        else:  # an incomplete frame: that action's own validation answers, not "unknown"
            assert "unknown_action" not in codes and codes, (key, connections.frames)

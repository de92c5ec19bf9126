"""functions/gateway/app.py: cheap to import, an ASGI `app` (what Lambda Web Adapter
runs under uvicorn) that streams, and a Mangum `handler` for buffered HTTP API events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import openai
import pytest
from sqlalchemy import select

from local.serve import ServerThread
from omnichat.config import get_settings
from omnichat.db.engine import session_scope
from omnichat.db.models import UsageRecord
from tests.helpers import load_function
from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, sdk

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = SimpleNamespace(function_name="omnichat-gateway", aws_request_id="req-1", log_stream_name="stream",
                          get_remaining_time_in_millis=lambda: 29_000)


def http_api_event(method: str, path: str, key: str, body: dict | None = None) -> dict:
    event = json.loads((ROOT / "events" / "http-api-list-chats.json").read_text())
    event.update(rawPath=path, rawQueryString="", routeKey="ANY /v1/{proxy+}", queryStringParameters=None,
                 pathParameters={"proxy": path.removeprefix("/v1/")}, body=json.dumps(body) if body else None)
    event["requestContext"]["http"].update(method=method, path=path)
    event["requestContext"]["routeKey"] = "ANY /v1/{proxy+}"
    event["headers"]["authorization"] = f"Bearer {key}"
    return event


@pytest.fixture
def function_env(monkeypatch, live_settings):
    s = live_settings
    for name, value in {"DATABASE_URL": s.database_url, "OMNICHAT_HOME": str(s.home),
                        "OMNICHAT_JWT_SECRET": s.jwt_secret,
                        "OLLAMA_HOST": s.ollama_host, "OMNICHAT_BEDROCK_ENABLED": "true",
                        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": s.bedrock_runtime_endpoint,
                        "AWS_ENDPOINT_URL_BEDROCK": s.bedrock_endpoint, "OMNICHAT_PROVIDER_MAX_ATTEMPTS": "2"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_import_is_cheap():
    """No FastAPI, SQLAlchemy, boto3 or gateway code is loaded, and nothing is called,
    until the first request."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('gw', {str(ROOT / 'functions/gateway/app.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'boto3', 'botocore', 'httpx', 'omnichat.openai_compat')"
        " if m in sys.modules]\n"
        "print(heavy, module._app, module._adapter)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env={"PATH": "", "PYTHONPATH": str(ROOT / "layers/omnichat")})
    assert out.stdout.strip() == "[] None None"


def test_serving_calls_never_loads_sqlalchemy_or_pydantic(function_env, user):
    """Authenticated calls (the key check, model settings, a completion and its row in the
    request log) run on omnichat.db.lite, and bodies are checked without Pydantic: either
    would be a large part of a cold start."""
    events = [http_api_event("GET", "/v1/models", user.key), http_api_event("POST", "/v1/chat/completions", user.key, {
        "model": OLLAMA_MODEL, "messages": [{"role": "user", "content": "hi [[tokens=2]]"}]})]
    code = (
        "import importlib.util, json, sys, types\n"
        f"spec = importlib.util.spec_from_file_location('gw', {str(ROOT / 'functions/gateway/app.py')!r})\n"
        "gateway = importlib.util.module_from_spec(spec); spec.loader.exec_module(gateway)\n"
        "context = types.SimpleNamespace(function_name='gw', aws_request_id='r', log_stream_name='s',"
        " get_remaining_time_in_millis=lambda: 29_000)\n"
        "codes = [gateway.handler(event, context)['statusCode'] for event in json.load(sys.stdin)]\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'fastapi', 'pydantic'}\n"
        "print(json.dumps([codes, sorted(loaded)]))\n"
    )
    env = {**os.environ, "OMNICHAT_BEDROCK_ENABLED": "false", "PYTHONPATH": str(ROOT / "layers/omnichat")}
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(events), capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.splitlines()[-1]) == [[200, 200], []]
    with session_scope(get_settings().resolved_database_url) as db:
        logged = db.scalars(select(UsageRecord).where(UsageRecord.source == "gateway")).all()
    assert [(r.model, r.outcome, r.api_key_id) for r in logged] == [(OLLAMA_MODEL, "complete", user.key_id)]


def test_mangum_handler_serves_http_api_events(function_env, user):
    gateway = load_function("gateway")
    listed = gateway.handler(http_api_event("GET", "/v1/models", user.key), CONTEXT)
    assert listed["statusCode"] == 200, listed
    assert OLLAMA_MODEL in [m["id"] for m in json.loads(listed["body"])["data"]]
    answer = gateway.handler(http_api_event("POST", "/v1/chat/completions", user.key, {
        "model": BEDROCK_MODEL, "messages": [{"role": "user", "content": "hi [[tokens=3]]"}]}), CONTEXT)
    assert answer["statusCode"] == 200, answer
    assert len(json.loads(answer["body"])["choices"][0]["message"]["content"].split()) == 3
    refused = gateway.handler(http_api_event("GET", "/v1/models", "ock_revoked"), CONTEXT)
    assert refused["statusCode"] == 401 and json.loads(refused["body"])["error"]["type"] == "authentication_error"


def test_asgi_app_streams_under_uvicorn(function_env, user):
    gateway = load_function("gateway")
    with ServerThread(gateway.app) as server:
        chunks = list(sdk(server, user.key).chat.completions.create(
            model=OLLAMA_MODEL, stream=True, messages=[{"role": "user", "content": "hi [[tokens=4]]"}]))
        with pytest.raises(openai.NotFoundError):
            sdk(server, user.key).chat.completions.create(model="ollama/none:1b", stream=True,
                                                          messages=[{"role": "user", "content": "hi"}])
    assert len("".join(c.choices[0].delta.content or "" for c in chunks).split()) == 4

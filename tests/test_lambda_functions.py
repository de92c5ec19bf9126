"""The Lambda adapters, invoked with API Gateway / CloudFormation events as AWS sends
them (samples in events/)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from omnichat.config import get_settings
from omnichat.db import migrate
from tests.helpers import CfnResponses, load_function

EVENTS = Path(__file__).resolve().parent.parent / "events"


def event(name: str, token: str | None = None) -> dict:
    raw = (EVENTS / name).read_text()
    if token:
        raw = raw.replace("REPLACE_WITH_TOKEN", token)
    return json.loads(raw)


CONTEXT = SimpleNamespace(function_name="omnichat-api", aws_request_id="req-1", log_stream_name="stream",
                          get_remaining_time_in_millis=lambda: 29_000)


@pytest.fixture
def lambda_env(monkeypatch, db_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("OMNICHAT_JWT_SECRET", "lambda-test-secret-" + "z" * 32)
    monkeypatch.setenv("OMNICHAT_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_api_handler_serves_http_api_v2_events(lambda_env):
    api = load_function("api")
    health = api.handler(event("http-api-health.json"), CONTEXT)
    assert health["statusCode"] == 200 and json.loads(health["body"])["status"] == "ok"

    signup = api.handler(event("http-api-signup.json"), CONTEXT)
    assert signup["statusCode"] == 202, signup
    signin = api.handler(event("http-api-signin.json"), CONTEXT)
    assert signin["statusCode"] == 200, signin
    token = json.loads(signin["body"])["access_token"]

    created = api.handler(event("http-api-create-chat.json", token), CONTEXT)
    assert created["statusCode"] == 201 and json.loads(created["body"])["title"] == "From Lambda"
    listed = api.handler(event("http-api-list-chats.json", token), CONTEXT)
    assert [c["title"] for c in json.loads(listed["body"])["chats"]] == ["From Lambda"]


def test_api_handler_answers_errors_in_the_standard_shape(lambda_env):
    api = load_function("api")
    response = api.handler(event("http-api-list-chats.json", "not-a-token"), CONTEXT)
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "invalid_token"


def test_importing_a_handler_does_no_work(lambda_env):
    api = load_function("api")
    assert api._adapter is None  # the app is built on the first invocation, not at import


@pytest.fixture
def cfn_endpoint():
    with CfnResponses() as cloudformation:
        yield cloudformation.url, cloudformation.received


def test_migrate_custom_resource_runs_migrations_and_reports_success(monkeypatch, tmp_path, cfn_endpoint):
    url, received = cfn_endpoint
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", db)
    get_settings.cache_clear()
    fn = load_function("migrate")
    ev = {**event("cfn-migrate-create.json"), "ResponseURL": url}
    fn.handler(ev, CONTEXT)
    get_settings.cache_clear()
    assert received[0]["Status"] == "SUCCESS" and received[0]["RequestId"] == ev["RequestId"]
    assert received[0]["Data"]["Revision"] == migrate.current(db) is not None


def test_migrate_custom_resource_reports_failure(monkeypatch, tmp_path, cfn_endpoint):
    url, received = cfn_endpoint
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    fn = load_function("migrate")
    fn.handler({**event("cfn-migrate-create.json"), "ResponseURL": url}, CONTEXT)
    get_settings.cache_clear()
    assert received[0]["Status"] == "FAILED" and "Migration failed" in received[0]["Reason"]


def test_migrate_delete_leaves_the_database_alone(monkeypatch, cfn_endpoint):
    url, received = cfn_endpoint
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    fn = load_function("migrate")
    fn.handler({**event("cfn-migrate-create.json"), "RequestType": "Delete", "ResponseURL": url}, CONTEXT)
    get_settings.cache_clear()
    assert received[0]["Status"] == "SUCCESS"

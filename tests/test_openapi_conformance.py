"""The OpenAPI document describes what the REST API does: schemathesis generates requests
from it (valid ones and invalid ones) and sends them, authenticated as an admin, to the
real app in process (ASGI), with every check on: no server errors, every status, content
type and body as documented, invalid input refused, valid input accepted. A bounded pass
(a fixed, small number of examples per operation, no shrinking, a fixed seed): a
regression net in `make test`, not an exhaustive fuzz.

On SQLite every phase runs; on PostgreSQL the coverage phase (each schema's boundary
values, which the API checks before any SQL runs) is left out, and the generated requests
of the examples and fuzzing phases still reach the database: the same checks for about
two thirds of the cost of running everything twice."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig

from tests.helpers import sign_up

ACCEPTED = ["2xx", "401", "403", "404", "409", "429"]  # schemathesis' default, less 3xx and 5xx
CONFIG = {
    "seed": 15,
    "generation": {"max-examples": 4, "no-shrink": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
    "operations": [
        # Rules no schema can state, each a 400 naming itself: an email address's syntax and a
        # password's strength (the common-password list, the email in it); an opaque cursor
        # that this server did not issue; an imported message tree's consistency (parents
        # that exist, no cycles); a preset's base model and fallbacks, and a model's fallback
        # chain (models this server offers and has enabled; no cycle through other chains);
        # a budget names at least one limit; a price is for a provider model (gpu_hour: Ollama's);
        # what is pulled, created or deleted is an ollama/<name:tag> id.
        {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}}
        for path in ("/api/admin/audit", "/api/admin/audit/export",  # their cursor; `since` before `until`
                     "/api/auth/signup", "/api/auth/password", "/api/chats", "/api/chats/import", "/api/presets",
                     "/api/admin/presets", "/api/models/{model_id}", "/api/models/pull", "/api/models/create",
                     "/api/admin/prices/{model_id}",
                     "/api/admin/budgets/users/{user_id}", "/api/admin/budgets/groups/{group_id}",
                     "/api/admin/budgets/keys/{key_id}", "/api/auth/sso/exchange")  # a one-time code
    ] + [
        # Files (docs/documents.md): what the bytes are (an empty file, a type OmniChat does not
        # read: 400, 415), a name with nothing left once cleaned, the size limits (413).
        {"include-path": path, "checks": {"positive_data_acceptance": {
            "expected-statuses": [*ACCEPTED, "400", "413", "415"]}}}
        for path in ("/api/files", "/api/files/uploads", "/api/files/{file_id}/complete",
                     "/api/files/{upload_id}/upload")
    ] + [
        # A collection's name: printable, not only spaces.
        {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}}
        for path in ("/api/collections", "/api/collections/{collection_id}")
    ] + [
        # Single sign-on sends the browser on: start to the issuer (here, with no issuer
        # configured, a 404), the callback back to the page with a code or an error.
        {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "302"]}}}
        for path in ("/api/auth/sso/start", "/api/auth/sso/callback")
    ] + [
        # Loading a model asks the model server, which this test has none of: its documented
        # 503 is the truth about the server, not a failure of the API.
        {"include-path": "/api/models/load", "checks": {
            "not_a_server_error": {"enabled": False},
            "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400", "503"]}}},
    ],
}


@pytest.fixture
def api_schema(app, db_url):  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        admin = sign_up(client, "admin@example.com")  # the first account is the admin
        key = client.post("/api/keys", json={"name": "schemathesis"}, headers=admin.headers).json()["key"]
    phases = CONFIG["phases"] if db_url.startswith("sqlite") else {**CONFIG["phases"], "coverage": {"enabled": False}}
    config = SchemathesisConfig.from_dict({**CONFIG, "phases": phases, "headers": {"Authorization": f"Bearer {key}"}})
    return schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_the_api_does_what_its_openapi_document_says(case):
    case.call_and_validate()

"""The OpenAPI document describes what the REST API does: schemathesis generates requests
from it (valid ones and invalid ones) and sends them, authenticated as an admin, to the
real app in process (ASGI), with every check on: no server errors, every status, content
type and body as documented, invalid input refused, valid input accepted. A bounded pass
(a fixed, small number of examples per operation, no shrinking, a fixed seed): a
regression net in `make test`, not an exhaustive fuzz."""

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
        # that exist, no cycles).
        {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}}
        for path in ("/api/auth/signup", "/api/auth/password", "/api/chats", "/api/chats/import")
    ],
}


@pytest.fixture
def api_schema(app):  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        admin = sign_up(client, "admin@example.com")  # the first account is the admin
        key = client.post("/api/keys", json={"name": "schemathesis"}, headers=admin.headers).json()["key"]
    config = SchemathesisConfig.from_dict({**CONFIG, "headers": {"Authorization": f"Bearer {key}"}})
    return schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_the_api_does_what_its_openapi_document_says(case):
    case.call_and_validate()

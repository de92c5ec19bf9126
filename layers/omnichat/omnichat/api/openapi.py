"""The OpenAPI document says what the API answers, errors included: every error is
`{"error": {"code", "message"}}` (errors.py), and each operation lists the statuses it
can give. Most follow from the operation itself and are added here, in one place:

- its policy (deps.POLICIES): 401 when it needs a bearer token, 403 when it also needs a
  role or a session;
- a request body: 400 (invalid JSON, a value the core refuses), 413 (body limit), 422;
- parameters: 400 and 422; a path parameter: 404 (no such object, or not yours).

What only one route gives (409, 429, a 401 on sign-in) it declares itself with
`responses=error_responses(...)`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from omnichat.api.errors import ERROR_SCHEMA

ERROR_REF = {"$ref": "#/components/schemas/Error"}
_DESCRIPTIONS = {
    400: "Bad request: invalid JSON, parameter or value",
    401: "No valid bearer token (a session token or an API key)",
    403: "Not allowed for this account, role or credential",
    404: "No such object (or not yours)",
    409: "Conflicts with the current state",
    413: "The request body is too large",
    422: "The body or a parameter fails validation",
    429: "Too many requests: retry later",
    503: "The model server cannot be reached: retry later",
}
# Statuses each policy of deps.POLICIES can answer before the route runs.
POLICY_STATUSES: dict[str, tuple[int, ...]] = {
    "public": (), "signed_in": (401,), "active": (401, 403), "session": (401, 403),
    "active_session": (401, 403), "admin": (401, 403),
}
BEARER = {"type": "http", "scheme": "bearer",
          "description": "A session token (POST /api/auth/signin) or an API key (POST /api/keys)"}

Operation = tuple[str, str]  # (OpenAPI path, HTTP method)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's `responses=`: the errors that only this route gives."""
    return {status: _error(status) for status in statuses}


def _error(status: int) -> dict[str, Any]:
    return {"description": _DESCRIPTIONS[status], "content": {"application/json": {"schema": ERROR_REF}}}


def install(app: FastAPI, policies: dict[Operation, str]) -> None:
    """Serve the document with its errors described; `policies` names each operation's policy."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            app.openapi_schema = describe_errors(document, policies)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe_errors(document: dict[str, Any], policies: dict[Operation, str]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape: not ours
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            policy = policies.get((path, method.upper()), "public")
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(operation, policy)):
                if status == 422 or str(status) not in responses:  # 422: replaces FastAPI's own
                    responses[str(status)] = _error(status)
            if policy != "public":
                operation["security"] = [{"bearer": []}]
    return document


def _statuses(operation: dict[str, Any], policy: str) -> set[int]:
    statuses = set(POLICY_STATUSES[policy])
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses |= {400, 422}
    if "requestBody" in operation:
        statuses.add(413)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    return statuses

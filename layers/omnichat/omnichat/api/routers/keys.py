"""/api/keys: the user's own API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from omnichat import audit
from omnichat.api.deps import SQL, AuditOrigin, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from omnichat.auth import api_keys

router = APIRouter(route_class=CheckedRoute, prefix="/api/keys", tags=["api keys"])


@router.get("", response_model=list[ApiKeyOut])
def list_keys(principal: CurrentUser, db: SQL) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(k) for k in api_keys.list_keys(db, principal)]


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyIn, principal: CurrentUser, db: SQL, origin: AuditOrigin) -> ApiKeyCreated:
    key, plaintext = api_keys.create(db, principal, body.name)
    audit.record(db, origin, "key.created", target=("api_key", key.id),
                 details={"name": key.name, "prefix": key.prefix})
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=plaintext)


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: str, principal: CurrentUser, db: SQL, origin: AuditOrigin) -> Response:
    api_keys.revoke(db, principal, key_id)
    key = api_keys.ApiKeyRow.first(db, "WHERE id = ?", key_id)
    audit.record(db, origin, "key.revoked", target=("api_key", key_id),
                 details={"name": key.name, "prefix": key.prefix} if key else {})
    return Response(status_code=204)

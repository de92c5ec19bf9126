"""/api/keys: the user's own API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from omnichat.api.deps import SQL, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from omnichat.auth import api_keys

router = APIRouter(route_class=CheckedRoute, prefix="/api/keys", tags=["api keys"])


@router.get("", response_model=list[ApiKeyOut])
def list_keys(principal: CurrentUser, db: SQL) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(k) for k in api_keys.list_keys(db, principal)]


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyIn, principal: CurrentUser, db: SQL) -> ApiKeyCreated:
    key, plaintext = api_keys.create(db, principal, body.name)
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=plaintext)


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: str, principal: CurrentUser, db: SQL) -> Response:
    api_keys.revoke(db, principal, key_id)
    return Response(status_code=204)

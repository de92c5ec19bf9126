"""/api/collections: knowledge collections and sharing them with groups (the core is
documents/collections.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from omnichat.api.deps import SQL, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.routers.files import Store
from omnichat.api.schemas import CollectionIn, CollectionListOut, CollectionOut, CollectionUpdateIn
from omnichat.auth.principal import Principal
from omnichat.db.lite import Db
from omnichat.documents import collections
from omnichat.documents.collections import CollectionRow

router = APIRouter(route_class=CheckedRoute, tags=["collections"])


def collection_out(item: collections.CollectionView) -> CollectionOut:
    row = item.row
    return CollectionOut(id=row.id, name=row.name, description=row.description, embed_model=row.embed_model,
                         owned=item.owned, file_count=item.file_count, groups=item.groups,
                         created_at=row.created_at, updated_at=row.updated_at)


def _out(db: Db, principal: Principal, row: CollectionRow) -> CollectionOut:
    return collection_out(collections.view(db, principal, row))


@router.get("/api/collections", response_model=CollectionListOut)
def list_collections(principal: CurrentUser, db: SQL) -> CollectionListOut:
    """Your collections and those shared with a group of yours, by name."""
    return CollectionListOut(collections=[collection_out(c) for c in collections.list_readable(db, principal)])


@router.post("/api/collections", status_code=201, response_model=CollectionOut, responses=error_responses(409))
def create_collection(body: CollectionIn, principal: CurrentUser, db: SQL) -> CollectionOut:
    return _out(db, principal, collections.create(db, principal, body.name, body.description))


@router.get("/api/collections/{collection_id}", response_model=CollectionOut)
def get_collection(collection_id: str, principal: CurrentUser, db: SQL) -> CollectionOut:
    return _out(db, principal, collections.get_readable(db, principal, collection_id))


@router.patch("/api/collections/{collection_id}", response_model=CollectionOut, responses=error_responses(409))
def update_collection(collection_id: str, body: CollectionUpdateIn, principal: CurrentUser, db: SQL) -> CollectionOut:
    """Rename it or change its description (`null` or "": none). Its owner only."""
    row = collections.update(db, principal, collection_id, name=body.name, description=body.description,
                             clear_description="description" in body.model_fields_set and not body.description)
    return _out(db, principal, row)


@router.delete("/api/collections/{collection_id}", status_code=204)
def delete_collection(collection_id: str, principal: CurrentUser, db: SQL, storage: Store) -> Response:
    """The collection and all its files. Its owner only."""
    collections.delete(db, storage, principal, collection_id)
    return Response(status_code=204)


@router.put("/api/collections/{collection_id}/groups/{group_id}", response_model=CollectionOut)
def share_collection(collection_id: str, group_id: str, principal: CurrentUser, db: SQL) -> CollectionOut:
    """Members of the group may read the collection. Its owner shares with a group they
    belong to (an admin: with any group)."""
    return _out(db, principal, collections.share(db, principal, collection_id, group_id))


@router.delete("/api/collections/{collection_id}/groups/{group_id}", response_model=CollectionOut)
def unshare_collection(collection_id: str, group_id: str, principal: CurrentUser, db: SQL) -> CollectionOut:
    """The group's members no longer read it."""
    return _out(db, principal, collections.unshare(db, principal, collection_id, group_id))

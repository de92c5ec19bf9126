"""/api/models: the model catalog. Everyone sees the models they may use; admins see all,
change per-model settings, and pull or delete Ollama models."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from omnichat.api.deps import SQL, AppSettings, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.schemas import ChatParams, not_null
from omnichat.catalog import catalog, pulls
from omnichat.chats.params import checked as checked_params
from omnichat.errors import BadRequest
from omnichat.providers import registry
from omnichat.providers.errors import ProviderError

router = APIRouter(route_class=CheckedRoute, prefix="/api/models", tags=["models"])
admin_router = APIRouter(route_class=CheckedRoute, prefix="/api/models", tags=["models"])
log = logging.getLogger("omnichat.api.models")


class ModelOut(BaseModel):
    id: str
    provider: str
    name: str
    display_name: str
    enabled: bool
    visibility: str
    params: dict[str, Any]
    details: dict[str, Any]


class ModelListOut(BaseModel):
    models: list[ModelOut]
    unavailable: dict[str, str]  # provider -> why it could not be listed


class ModelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = not_null()
    display_name: str | None = Field(default=None, max_length=200)  # null: the provider's name
    visibility: Literal["everyone", "admins"] = not_null()
    params: ChatParams | None = None  # the model's defaults; null: none


class PullIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(min_length=1, max_length=300)


def _out(info: Any, ms: catalog.ModelSettings) -> ModelOut:
    return ModelOut(id=info.id, provider=info.provider, name=info.name,
                    display_name=ms.display_name or info.display_name, enabled=ms.enabled,
                    visibility=ms.visibility, params=ms.params, details=info.details)


@router.get("", response_model=ModelListOut)
async def list_models(principal: CurrentUser, sql: SQL, settings: AppSettings, refresh: bool = False) -> ModelListOut:
    found, errors = await catalog.discover(settings, refresh=refresh)
    saved = catalog.all_model_settings(sql)
    out = [_out(m, saved.get(m.id, catalog.ModelSettings())) for m in found]
    if not principal.is_admin:
        out = [m for m in out if catalog.may_use(principal, saved.get(m.id, catalog.ModelSettings()))]
    return ModelListOut(models=out, unavailable=errors if principal.is_admin else {k: "unavailable" for k in errors})


@admin_router.patch("/{model_id:path}")
def update_model(model_id: str, body: ModelPatch, sql: SQL) -> dict[str, Any]:
    catalog.split_id(model_id)
    ms = catalog.model_settings(sql, model_id)
    changes = body.model_dump(exclude_unset=True)
    if "params" in changes:
        changes["params"] = checked_params(changes["params"]) if changes["params"] is not None else {}
    for field, value in changes.items():
        setattr(ms, field, value)
    catalog.save_model_settings(sql, model_id, ms)
    return {"id": model_id, **ms.__dict__}


def _ollama_name(settings: Any, model_id: str) -> str:
    provider, name = catalog.split_id(model_id)
    if provider != "ollama":
        raise BadRequest("Only ollama/<name:tag> models can be pulled or deleted", code="invalid_model")
    if not registry.enabled(settings, "ollama"):
        raise catalog.ModelNotAvailable("The ollama provider is not enabled on this server")
    return name


@admin_router.get("/pulls")
def list_pulls(db: SQL, limit: int = Query(50, ge=1, le=200)) -> list[dict[str, Any]]:
    """Recent pulls run by the worker beside Ollama, newest first (AWS mode)."""
    return [{"id": p.id, "model": p.model, "status": p.status, "status_text": p.status_text,
             "completed": p.completed, "total": p.total, "error": p.error, "created_at": p.created_at,
             "updated_at": p.updated_at, "finished_at": p.finished_at} for p in pulls.recent_pulls(db, limit)]


@admin_router.post("/pull", responses={**error_responses(404), 200: {
    "description": "Progress objects, one JSON object per line", "content": {"application/x-ndjson": {}}}})
async def pull_model(body: PullIn, settings: AppSettings) -> StreamingResponse:
    """Streams Ollama's progress objects as NDJSON; an error mid-way is a last
    `{"error": {...}}` line (the status is already sent)."""
    name = _ollama_name(settings, body.model)
    provider = registry.get_provider(settings, "ollama")

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for progress in provider.pull(name):
                yield (json.dumps({"model": body.model, **progress}) + "\n").encode()
            catalog.invalidate_cache()
        except ProviderError as exc:
            exc.log(log, f"pull of {body.model}")
            yield (json.dumps({"error": {"code": exc.code, "message": exc.message}}) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@admin_router.delete("/{model_id:path}", status_code=204)
async def delete_model(model_id: str, settings: AppSettings) -> Response:
    name = _ollama_name(settings, model_id)
    await registry.get_provider(settings, "ollama").delete(name)  # a ProviderError: api/errors.py
    catalog.invalidate_cache()
    return Response(status_code=204)

"""/api/models: the model catalog. Everyone sees the models they may use; admins see all,
change per-model settings, and pull or delete Ollama models."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from omnichat import audit
from omnichat.api.deps import SQL, AppSettings, AuditOrigin, CurrentUser
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.api.routers import presets
from omnichat.api.schemas import ChatParams, not_null
from omnichat.auth import groups
from omnichat.catalog import catalog, chains, keep_alive, pulls
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
    groups: list[str] = []  # visibility "groups": the groups whose members may use it
    params: dict[str, Any]
    details: dict[str, Any]
    fallbacks: list[str]  # model ids that answer in turn when this one fails before its first token
    keep_alive: str | int | None = None  # Ollama: how long it stays loaded after a call; null: the server's


class ModelListOut(BaseModel):
    models: list[ModelOut]
    unavailable: dict[str, str]  # provider -> why it could not be listed


class ModelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = not_null()
    display_name: str | None = Field(default=None, max_length=200)  # null: the provider's name
    visibility: Literal["everyone", "admins", "groups"] = not_null()
    # visibility "groups": the ids of the groups whose members may use the model
    groups: list[Annotated[str, Field(min_length=1, max_length=36)]] | None = Field(default=None, max_length=100)
    params: ChatParams | None = None  # the model's defaults; null: none
    fallbacks: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = None  # null: none
    keep_alive: str | int | None = None  # Ollama models: "10m", "1h", 3600, -1 (for good), 0; null: the server's


class PullIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(min_length=1, max_length=300)


class OllamaParameters(BaseModel):
    """The Ollama parameters an admin may give a created model (Ollama's names)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1, le=1000)
    num_predict: int | None = Field(default=None, ge=1, le=32_000)
    num_ctx: int | None = Field(default=None, ge=256, le=1_048_576)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    repeat_penalty: float | None = Field(default=None, ge=0, le=3)
    stop: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(default=None, max_length=4)


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    model: str = Field(min_length=1, max_length=300)  # the new one: ollama/<name:tag> (or a bare name)
    from_: str = Field(alias="from", min_length=1, max_length=300)  # its base, an Ollama model
    system: str | None = Field(default=None, max_length=20_000)
    parameters: OllamaParameters | None = None


class CreatedOut(BaseModel):
    model: str
    status: Literal["success"] = "success"


def _out(info: Any, ms: catalog.ModelSettings) -> ModelOut:
    return ModelOut(id=info.id, provider=info.provider, name=info.name,
                    display_name=catalog.display_name(info, ms), enabled=ms.enabled,
                    visibility=ms.visibility, groups=ms.groups, params=ms.params, details=info.details,
                    fallbacks=ms.fallbacks, keep_alive=ms.keep_alive)


@router.get("", response_model=ModelListOut)
async def list_models(principal: CurrentUser, sql: SQL, settings: AppSettings, refresh: bool = False) -> ModelListOut:
    found, errors = await catalog.discover(settings, refresh=refresh)
    saved = catalog.all_model_settings(sql)
    out = [_out(m, saved.get(m.id, catalog.ModelSettings())) for m in found]
    if not principal.is_admin:
        out = [m.model_copy(update={"fallbacks": []})  # the admin's setup, which may name hidden models
               for m in out if catalog.may_use(principal, saved.get(m.id, catalog.ModelSettings()))]
    out += [ModelOut(**entry) for entry in presets.model_entries(sql, settings, principal)]
    return ModelListOut(models=out, unavailable=errors if principal.is_admin else {k: "unavailable" for k in errors})


@admin_router.patch("/{model_id:path}")
async def update_model(model_id: str, body: ModelPatch, sql: SQL, settings: AppSettings,
                       origin: AuditOrigin) -> dict[str, Any]:
    catalog.split_id(model_id)
    model_id = catalog.canonical_id(model_id)  # `ollama/x` is `ollama/x:latest`, whose settings every call reads
    ms = catalog.model_settings(sql, model_id)
    before = dict(ms.__dict__)
    changes = body.model_dump(exclude_unset=True)
    if "params" in changes:
        changes["params"] = checked_params(changes["params"]) if changes["params"] is not None else {}
    if changes.get("keep_alive") is not None:
        if catalog.split_id(model_id)[0] != "ollama":
            raise BadRequest("keep_alive applies to Ollama models only", code="invalid_keep_alive")
        changes["keep_alive"] = keep_alive.checked(changes["keep_alive"])
    if "fallbacks" in changes:  # checked whole before anything is saved
        changes["fallbacks"] = await chains.checked(sql, settings, model_id, changes["fallbacks"] or [])
    if "groups" in changes:
        changes["groups"] = groups.existing_ids(sql, changes["groups"] or [])
        if changes["groups"] and changes.get("visibility", ms.visibility) != "groups":
            raise BadRequest("groups are only for visibility 'groups'", code="invalid_groups")
    for field, value in changes.items():
        setattr(ms, field, value)
    if ms.visibility != "groups":
        ms.groups = []
    catalog.save_model_settings(sql, model_id, ms)
    if changed := audit.changes(before, ms.__dict__):
        audit.record(sql, origin, "model.settings_changed", target=("model", model_id), details=changed)
    return {"id": model_id, **ms.__dict__}


def _ollama_name(settings: Any, model_id: str, doing: str) -> str:
    name = catalog.ollama_name(model_id)
    if name is None:
        raise BadRequest(f"Only ollama/<name:tag> models can be {doing}: {model_id!r} is not an Ollama model name",
                         code="invalid_model")
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
async def pull_model(body: PullIn, sql: SQL, settings: AppSettings, origin: AuditOrigin) -> StreamingResponse:
    """Streams Ollama's progress objects as NDJSON; an error mid-way is a last
    `{"error": {...}}` line (the status is already sent)."""
    name = _ollama_name(settings, body.model, "pulled")
    audit.record(sql, origin, "model.pull_started", target=("model", f"ollama/{name}"))
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


@admin_router.post("/load", responses=error_responses(404, 503))
async def load_model(body: PullIn, sql: SQL, settings: AppSettings) -> dict[str, Any]:
    """Load an Ollama model into memory now (Ollama's empty generate request), kept for the
    model's keep_alive setting, so the first chat does not wait for the load."""
    provider_name, name = catalog.split_id(body.model if "/" in body.model else f"ollama/{body.model}")
    if provider_name != "ollama":
        raise BadRequest("Only Ollama models are loaded into memory", code="invalid_model")
    if not registry.enabled(settings, "ollama"):
        raise catalog.ModelNotAvailable("The ollama provider is not enabled on this server")
    model_id = f"ollama/{name}"
    kept = catalog.model_settings(sql, model_id).keep_alive
    provider = registry.get_provider(settings, "ollama")
    await provider.load(name, kept)  # a ProviderError (no such model: 404): api/errors.py
    running = await provider.ps()
    loaded: dict[str, Any] = next((m for m in running if name in (m.get("name"), m.get("model"))), {})
    return {"model": model_id, "loaded": bool(loaded), "keep_alive": kept, "expires_at": loaded.get("expires_at")}


@admin_router.post("/create", response_model=CreatedOut, status_code=201, responses=error_responses(404))
async def create_model(body: CreateIn, sql: SQL, settings: AppSettings, origin: AuditOrigin) -> CreatedOut:
    """An Ollama model made from another with a system prompt and parameters (Ollama's
    `/api/create`): it shares the base's weights, and is then a model like any other."""
    name, base = _ollama_name(settings, body.model, "created"), _ollama_name(settings, body.from_, "created from")
    parameters = body.parameters.model_dump(exclude_none=True) if body.parameters else {}
    await registry.get_provider(settings, "ollama").create(name, base, body.system, parameters)
    catalog.invalidate_cache()
    audit.record(sql, origin, "model.created", target=("model", f"ollama/{name}"),
                 details={"from": f"ollama/{base}", "parameters": parameters, "system_prompt": body.system is not None})
    return CreatedOut(model=f"ollama/{name}")


@admin_router.delete("/{model_id:path}", status_code=204)
async def delete_model(model_id: str, sql: SQL, settings: AppSettings, origin: AuditOrigin) -> Response:
    name = _ollama_name(settings, model_id, "deleted")
    await registry.get_provider(settings, "ollama").delete(name)  # a ProviderError: api/errors.py
    catalog.invalidate_cache()
    audit.record(sql, origin, "model.deleted", target=("model", f"ollama/{name}"))
    return Response(status_code=204)

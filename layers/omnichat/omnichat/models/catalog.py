"""Model ids are `ollama/<name:tag>` or `bedrock/<modelId or inference profile>`. Admins
set per-model settings (enabled, display name, default parameters, visibility); a user
may use a model only when its provider is enabled and the model is enabled and visible
to them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from omnichat import settings_store
from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db.lite import Db
from omnichat.errors import AppError
from omnichat.providers import registry
from omnichat.providers.types import ModelInfo

KEY_PREFIX = "model:"
VISIBILITIES = ("everyone", "admins")


class ModelNotAvailable(AppError):
    status, code = 404, "model_not_found"


@dataclass
class ModelSettings:
    enabled: bool = True
    display_name: str | None = None
    visibility: str = "everyone"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedModel:
    id: str
    provider: str
    name: str  # the provider's own name
    settings: ModelSettings


def split_id(model_id: str) -> tuple[str, str]:
    provider, _, name = model_id.partition("/")
    if provider not in registry.PROVIDERS or not name:
        raise ModelNotAvailable(f"Unknown model id {model_id!r}: use ollama/<name> or bedrock/<id>")
    return provider, name


def model_settings(db: Db, model_id: str) -> ModelSettings:
    return ModelSettings(**settings_store.get_value(db, KEY_PREFIX + model_id, {}))


def all_model_settings(db: Db) -> dict[str, ModelSettings]:
    saved = settings_store.values_under(db, KEY_PREFIX)
    return {model_id: ModelSettings(**(value or {})) for model_id, value in saved.items()}


def save_model_settings(db: Db, model_id: str, ms: ModelSettings) -> None:
    settings_store.set_value(db, KEY_PREFIX + model_id, asdict(ms))


def may_use(principal: Principal, ms: ModelSettings) -> bool:
    return ms.enabled and (ms.visibility == "everyone" or principal.is_admin)


def resolve(db: Db, settings: Settings, principal: Principal, model_id: str) -> ResolvedModel:
    """The model a principal asked for, or ModelNotAvailable. A model the user may not see
    answers exactly like an unknown one."""
    provider, name = split_id(model_id)
    if not registry.enabled(settings, provider):
        raise ModelNotAvailable(f"The {provider} provider is not enabled on this server")
    ms = model_settings(db, model_id)
    if not may_use(principal, ms):
        raise ModelNotAvailable(f"Model {model_id!r} is not available")
    return ResolvedModel(model_id, provider, name, ms)


# ---- listing -------------------------------------------------------------------------
_cache: dict[int, tuple[float, list[ModelInfo], dict[str, str]]] = {}


async def _list_provider(settings: Settings, name: str) -> tuple[list[ModelInfo], str | None]:
    try:
        return await registry.get_provider(settings, name).list_models(), None
    except Exception as exc:  # one backend down must not hide the other's models
        return [], f"{type(exc).__name__}: {exc}"


async def discover(settings: Settings, refresh: bool = False) -> tuple[list[ModelInfo], dict[str, str]]:
    """Every model the enabled providers offer, merged, cached for `model_list_ttl_s`.
    Also returns the providers that failed to answer, with why."""
    cached = _cache.get(id(settings))
    if cached and not refresh and time.monotonic() - cached[0] < settings.model_list_ttl_s:
        return cached[1], cached[2]
    names = [n for n in registry.PROVIDERS if registry.enabled(settings, n)]
    results = await asyncio.gather(*(_list_provider(settings, n) for n in names))
    models = [m for found, _ in results for m in found]
    errors = {n: err for n, (_, err) in zip(names, results) if err}
    _cache[id(settings)] = (time.monotonic(), models, errors)
    return models, errors


def invalidate_cache() -> None:
    _cache.clear()

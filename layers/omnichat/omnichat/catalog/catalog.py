"""Model ids are `ollama/<name:tag>` or `bedrock/<modelId or inference profile>`. Admins
set per-model settings (enabled, display name, default parameters, visibility); a user
may use a model only when its provider is enabled and the model is enabled and visible
to them."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from omnichat import settings_store
from omnichat.auth.principal import Principal
from omnichat.chats.params import usable
from omnichat.config import Settings
from omnichat.db.lite import Db
from omnichat.errors import AppError
from omnichat.providers import registry
from omnichat.providers.errors import ProviderError
from omnichat.providers.types import ModelInfo

log = logging.getLogger("omnichat.catalog")
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

    @classmethod
    def stored(cls, value: Any) -> ModelSettings:
        """Settings as saved, read defensively: a value of the wrong type (saved by an older
        version, or by hand) fails closed (disabled, admins only) instead of breaking every
        listing; the admin still sees the model and can repair it."""
        value = value if isinstance(value, dict) else {}
        enabled = value.get("enabled", True)
        visibility = value.get("visibility", "everyone")
        name = value.get("display_name")
        return cls(enabled=enabled if isinstance(enabled, bool) else False,
                   display_name=name if isinstance(name, str) else None,
                   visibility=visibility if visibility in VISIBILITIES else "admins",
                   params=usable(value.get("params")))


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
    return ModelSettings.stored(settings_store.get_value(db, KEY_PREFIX + model_id, {}))


def all_model_settings(db: Db) -> dict[str, ModelSettings]:
    saved = settings_store.values_under(db, KEY_PREFIX)
    return {model_id: ModelSettings.stored(value) for model_id, value in saved.items()}


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
# (settings, provider) -> when listed, the models, why the listing failed
_cache: dict[tuple[int, str], tuple[float, list[ModelInfo], str | None]] = {}


async def _list_provider(settings: Settings, name: str, refresh: bool) -> tuple[list[ModelInfo], str | None]:
    """One provider's models, cached for `model_list_ttl_s`."""
    cached = _cache.get((id(settings), name))
    if cached and not refresh and time.monotonic() - cached[0] < settings.model_list_ttl_s:
        return cached[1], cached[2]
    try:
        found, error = await registry.get_provider(settings, name).list_models(), None
    except ProviderError as exc:  # one backend down must not hide the other's models
        exc.log(log, f"listing the {name} models")
        found, error = [], exc.message
    except Exception:
        log.exception("listing the %s models failed", name)
        found, error = [], ProviderError.user_message
    _cache[(id(settings), name)] = (time.monotonic(), found, error)
    return found, error


async def discover(settings: Settings, refresh: bool = False) -> tuple[list[ModelInfo], dict[str, str]]:
    """Every model the enabled providers offer, merged. Also returns the providers that
    failed to answer, with why."""
    names = [n for n in registry.PROVIDERS if registry.enabled(settings, n)]
    results = await asyncio.gather(*(_list_provider(settings, n, refresh) for n in names))
    models = [m for found, _ in results for m in found]
    errors = {n: err for n, (_, err) in zip(names, results, strict=True) if err}
    return models, errors


async def ensure_offered(settings: Settings, model_id: str) -> None:
    """ModelNotAvailable for an Ollama model its server does not have, so that a send to
    it is refused before anything is saved or called. Bedrock ids are left to Bedrock:
    its listing costs a cold start dearly, and application profiles (ARNs) are never
    listed. A server that cannot be listed is not judged here: the call will say."""
    provider, _ = split_id(model_id)
    if provider != "ollama" or not registry.enabled(settings, provider):
        return
    found, error = await _list_provider(settings, provider, refresh=False)
    if error is None and all(m.id != model_id for m in found):
        found, error = await _list_provider(settings, provider, refresh=True)  # pulled a moment ago?
        if error is None and all(m.id != model_id for m in found):
            raise ModelNotAvailable(f"Model {model_id!r} is not available")


def invalidate_cache() -> None:
    _cache.clear()

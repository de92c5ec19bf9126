"""Model ids are `ollama/<name:tag>`, `bedrock/<modelId or inference profile>` or
`preset/<slug>` (a custom model on one of those: presets.py). Admins
set per-model settings (enabled, display name, default parameters, visibility); a user
may use a model only when its provider is enabled and the model is enabled and visible
to them."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from anyio import to_thread

from omnichat import settings_store
from omnichat.auth.principal import Principal
from omnichat.catalog import presets
from omnichat.catalog.keep_alive import KeepAlive
from omnichat.catalog.keep_alive import usable as usable_keep_alive
from omnichat.chats.params import usable
from omnichat.config import Settings
from omnichat.db import lite
from omnichat.db.lite import Db
from omnichat.errors import AppError
from omnichat.providers import registry
from omnichat.providers.errors import ProviderError
from omnichat.providers.types import ModelInfo

log = logging.getLogger("omnichat.catalog")
KEY_PREFIX = "model:"
VISIBILITIES = ("everyone", "admins", "groups")  # groups: admins and the members of `groups`


class ModelNotAvailable(AppError):
    status, code = 404, "model_not_found"


class AmbiguousModel(AppError):
    status, code = 400, "ambiguous_model"


@dataclass
class ModelSettings:
    enabled: bool = True
    display_name: str | None = None
    visibility: str = "everyone"
    params: dict[str, Any] = field(default_factory=dict)
    # With visibility "groups": the ids of the groups whose members may use the model.
    groups: list[str] = field(default_factory=list)
    # Model ids that answer in turn when this one fails before its first token (chains.py).
    fallbacks: list[str] = field(default_factory=list)
    # Ollama: how long the model stays loaded after a call (keep_alive.py); None: the server's.
    keep_alive: KeepAlive | None = None

    @classmethod
    def stored(cls, value: Any) -> ModelSettings:
        """Settings as saved, read defensively: a value of the wrong type (saved by an older
        version, or by hand) fails closed (disabled, admins only) instead of breaking every
        listing; the admin still sees the model and can repair it."""
        value = value if isinstance(value, dict) else {}
        enabled = value.get("enabled", True)
        visibility = value.get("visibility", "everyone")
        name = value.get("display_name")
        fallbacks = value.get("fallbacks")
        groups = value.get("groups")
        return cls(enabled=enabled if isinstance(enabled, bool) else False,
                   display_name=name if isinstance(name, str) else None,
                   visibility=visibility if visibility in VISIBILITIES else "admins",
                   params=usable(value.get("params")),
                   fallbacks=[f for f in fallbacks if isinstance(f, str)] if isinstance(fallbacks, list) else [],
                   groups=[g for g in groups if isinstance(g, str)] if isinstance(groups, list) else [],
                   keep_alive=usable_keep_alive(value.get("keep_alive")))


@dataclass(frozen=True)
class ResolvedModel:
    id: str
    provider: str
    name: str  # the provider's own name
    settings: ModelSettings
    # What a preset (`preset/<slug>`) adds to its base model; empty for a plain model.
    system: str | None = None
    # Model ids tried in order when this one fails before its first token (gateway fallback).
    fallbacks: tuple[str, ...] = ()
    # (model id, keep-alive) of the chain's Ollama models that have one set by the admin.
    fallback_keep_alive: tuple[tuple[str, KeepAlive], ...] = ()
    # The preset's row id (its bound knowledge collections: presets.collections_for); None for a plain model.
    preset_id: str | None = None


def _ollama_key(name: str) -> str:
    """Ollama's name with the tag it implies (as providers/ollama_nodes.model_key)."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def split_id(model_id: str) -> tuple[str, str]:
    """(provider, the provider's name). An Ollama name comes with the tag it implies
    (`ollama/llama3.2` is `llama3.2:latest`, as Ollama itself reads it)."""
    provider, _, name = model_id.partition("/")
    if provider not in registry.PROVIDERS or not name:
        raise ModelNotAvailable(f"Unknown model id {model_id!r}: use ollama/<name> or bedrock/<id>")
    return provider, _ollama_key(name) if provider == "ollama" else name


# An Ollama model name, `[host/][namespace/]model[:tag]`, in the characters and lengths
# Ollama accepts: what a pull, create or delete may send to a model server. (The bundled
# model server, like Ollama, checks names again in its own words.)
_OLLAMA_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
_OLLAMA_NAME = re.compile(rf"{_OLLAMA_SEGMENT}(?:/{_OLLAMA_SEGMENT}){{0,2}}(?::[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})?")


def ollama_name(model_id: str) -> str | None:
    """The Ollama name (tag implied) of an `ollama/<name[:tag]>` id, or None when `model_id`
    is not one: another provider's id, or a name Ollama would refuse (`..`, spaces, an
    empty tag)."""
    provider, _, name = model_id.partition("/")
    if provider != "ollama" or ".." in name or not _OLLAMA_NAME.fullmatch(name):
        return None
    return _ollama_key(name)


def canonical_id(model_id: str) -> str:
    """The one id of the model `model_id` names: `ollama/llama3.2` is `ollama/llama3.2:latest`,
    so the admin's settings (enabled, visibility, keep-alive, chain, price) of the model
    apply whichever way it is written. Anything else is returned as it is."""
    provider, _, name = model_id.partition("/")
    return f"ollama/{_ollama_key(name)}" if provider == "ollama" and name else model_id


def model_settings(db: Db, model_id: str) -> ModelSettings:
    return ModelSettings.stored(settings_store.get_value(db, KEY_PREFIX + model_id, {}))


def all_model_settings(db: Db) -> dict[str, ModelSettings]:
    saved = settings_store.values_under(db, KEY_PREFIX)
    return {model_id: ModelSettings.stored(value) for model_id, value in saved.items()}


def save_model_settings(db: Db, model_id: str, ms: ModelSettings) -> None:
    settings_store.set_value(db, KEY_PREFIX + model_id, asdict(ms))


def may_use(principal: Principal, ms: ModelSettings) -> bool:
    return ms.enabled and (ms.visibility == "everyone" or principal.is_admin
                           or (ms.visibility == "groups" and not principal.groups.isdisjoint(ms.groups)))


def resolve(db: Db, settings: Settings, principal: Principal, model_id: str) -> ResolvedModel:
    """The model a principal asked for, or ModelNotAvailable. A model the user may not see
    answers exactly like an unknown one."""
    if presets.is_preset(model_id):
        return _resolve_preset(db, settings, principal, model_id)
    provider, name = split_id(model_id)
    model_id = f"{provider}/{name}"  # `ollama/x` is `ollama/x:latest`: its settings are that model's
    if not registry.enabled(settings, provider):
        raise ModelNotAvailable(f"The {provider} provider is not enabled on this server")
    ms = model_settings(db, model_id)
    if not may_use(principal, ms):
        raise ModelNotAvailable(f"Model {model_id!r} is not available")
    chain = usable_fallbacks(db, settings, principal, ms.fallbacks)
    return ResolvedModel(model_id, provider, name, ms, fallbacks=chain, fallback_keep_alive=kept_alive(db, chain))


def _resolve_preset(db: Db, settings: Settings, principal: Principal, model_id: str) -> ResolvedModel:
    """A preset as its base model, with the preset's system prompt, its parameters over the
    base's defaults, and its own fallback chain. A base disabled since the preset was saved
    (or, for a user's own preset, hidden from them) makes the preset unusable, saying why."""
    preset = presets.find(db, principal, model_id.removeprefix(presets.PREFIX))
    if preset is None:
        raise ModelNotAvailable(f"Model {model_id!r} is not available")
    return preset_model(db, settings, principal, preset)


def usable_presets(db: Db, settings: Settings, principal: Principal) -> list[presets.PresetRow]:
    """The presets this principal may pick now: those `resolve` would accept."""
    found = []
    for preset in presets.usable(db, principal):
        try:
            preset_model(db, settings, principal, preset)
        except ModelNotAvailable:
            continue
        found.append(preset)
    return found


def preset_model(db: Db, settings: Settings, principal: Principal, preset: presets.PresetRow) -> ResolvedModel:
    model_id = preset.model_id
    provider, _, name = preset.base_model.partition("/")
    base = model_settings(db, preset.base_model)
    if (provider not in registry.PROVIDERS or not registry.enabled(settings, provider) or not base.enabled
            or (preset.owner_id is not None and not may_use(principal, base))):
        raise ModelNotAvailable(f"Preset {model_id!r} cannot be used now: its base model {preset.base_model!r} "
                                "is disabled or no longer available")
    ms = ModelSettings(display_name=preset.name, visibility=preset.visibility,
                       params={**base.params, **usable(preset.params)}, fallbacks=preset.chain,
                       keep_alive=base.keep_alive)  # the base model's: it is the one kept loaded
    chain = usable_fallbacks(db, settings, principal, preset.chain)
    return ResolvedModel(model_id, provider, name, ms, system=preset.system_prompt or None,
                         fallbacks=chain, fallback_keep_alive=kept_alive(db, chain), preset_id=preset.id)


def usable_fallbacks(db: Db, settings: Settings, principal: Principal, chain: Sequence[str]) -> tuple[str, ...]:
    """The chain's models this principal may use now: one disabled or hidden since the
    chain was saved is skipped, never called."""
    def ok(model_id: str) -> bool:
        provider, _, name = model_id.partition("/")
        return (provider in registry.PROVIDERS and bool(name) and registry.enabled(settings, provider)
                and may_use(principal, model_settings(db, model_id)))

    return tuple(f for f in chain if ok(f))


def kept_alive(db: Db, chain: Sequence[str]) -> tuple[tuple[str, KeepAlive], ...]:
    """The admin's keep-alive of each Ollama model of a chain that has one: a model
    answering for another is called with its own, never a shorter default."""
    return tuple((f, kept) for f in chain
                 if f.startswith("ollama/") and (kept := model_settings(db, f).keep_alive) is not None)


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
    listed. A server that cannot be listed is not judged here: the call will say. A
    preset is judged by `resolve`."""
    if presets.is_preset(model_id):
        return
    provider, _ = split_id(model_id)
    if provider != "ollama" or not registry.enabled(settings, provider):
        return
    found, error = await _list_provider(settings, provider, refresh=False)
    if error is None and all(m.id != model_id for m in found):
        found, error = await _list_provider(settings, provider, refresh=True)  # pulled a moment ago?
        if error is None and all(m.id != model_id for m in found):
            raise ModelNotAvailable(f"Model {model_id!r} is not available")


def display_name(info: ModelInfo, ms: ModelSettings) -> str:
    """The one name a model is shown by, everywhere: the admin's, else the provider's
    (an Ollama name without its implied `:latest` tag)."""
    return ms.display_name or info.display_name.removesuffix(":latest")


async def full_id(settings: Settings, principal: Principal, model_id: str) -> str:
    """`model_id` as a namespaced id. An id with a namespace (`ollama/…`, `bedrock/…`,
    `preset/…`) is returned as given (`resolve` judges it); a bare name is the one model
    this principal may use whose provider name (`smollm2:135m`, `llama3.2` for
    `llama3.2:latest`) or display name (any case) it is, or a preset's slug or name: none
    is ModelNotAvailable, more than one AmbiguousModel naming them."""
    if "/" in model_id:
        return canonical_id(model_id)
    found, _ = await discover(settings)
    saved = await to_thread.run_sync(lite.run, settings.resolved_database_url, all_model_settings)
    wanted = model_id.casefold()
    matches = sorted({m.id for m in found
                      if may_use(principal, ms := saved.get(m.id, ModelSettings()))
                      and (model_id in (m.name, m.name.removesuffix(":latest"))
                           or display_name(m, ms).casefold() == wanted)})
    own = await to_thread.run_sync(lite.run, settings.resolved_database_url,
                                   lambda db: usable_presets(db, settings, principal))
    matches += sorted(p.model_id for p in own if model_id == p.slug or p.name.casefold() == wanted)
    if len(matches) > 1:
        raise AmbiguousModel(f"Model name {model_id!r} is ambiguous: use one of {', '.join(matches)}")
    if not matches:
        raise ModelNotAvailable(f"No model is named {model_id!r}: use a model id from GET /api/models "
                                "(ollama/<name:tag> or bedrock/<id>)")
    return matches[0]


def invalidate_cache() -> None:
    _cache.clear()

"""Fallback chains as the admin saves them: checked whole before anything is stored.

A chain lists plain model ids (`ollama/…`, `bedrock/…`) that answer in turn when a
model fails before its first token (providers/fallback.py runs it). Only the asked
model's own chain is followed, never a fallback's chain; chains still may not form a
cycle through each other, since a cycle is always a mistake in the admin's setup."""

from __future__ import annotations

from anyio import to_thread

from omnichat.catalog import catalog
from omnichat.config import Settings
from omnichat.db.lite import Db
from omnichat.errors import BadRequest
from omnichat.providers import registry

MAX_FALLBACKS = 3


class InvalidFallbacks(BadRequest):
    code = "invalid_fallbacks"


class FallbackCycle(BadRequest):
    code = "fallback_cycle"


async def checked(db: Db, settings: Settings, model_id: str, chain: list[str]) -> list[str]:
    """The chain to save for `model_id`, or a 400 that names the first problem."""
    if len(chain) > MAX_FALLBACKS:
        raise InvalidFallbacks(f"fallbacks: at most {MAX_FALLBACKS} models", details={"field": "fallbacks"})
    for index, fallback in enumerate(chain):
        where = {"field": "fallbacks", "index": index, "model": fallback}
        if fallback == model_id:
            raise InvalidFallbacks(f"fallbacks: {model_id} cannot fall back to itself", details=where)
        if fallback in chain[:index]:
            raise InvalidFallbacks(f"fallbacks: {fallback} is listed twice", details=where)
        provider, _, name = fallback.partition("/")
        if provider not in registry.PROVIDERS or not name:
            raise InvalidFallbacks(f"fallbacks: {fallback!r} is not a model id: use ollama/<name> or bedrock/<id>",
                                   details=where)
    if chain:
        await _known_and_enabled(db, settings, chain)
        # On a worker thread: the lock it takes may wait for another request's commit, and
        # waiting on the event loop would stop that request from ever reaching it.
        await to_thread.run_sync(_no_cycle, db, model_id, chain)
    return chain


async def _known_and_enabled(db: Db, settings: Settings, chain: list[str]) -> None:
    found, errors = await catalog.discover(settings)
    offered = {m.id for m in found}
    saved = catalog.all_model_settings(db)
    for index, fallback in enumerate(chain):
        where = {"field": "fallbacks", "index": index, "model": fallback}
        provider = fallback.partition("/")[0]
        if not registry.enabled(settings, provider):
            raise InvalidFallbacks(f"fallbacks: the {provider} provider is not enabled on this server", details=where)
        if fallback not in offered:
            why = f" (its provider could not be listed: {errors[provider]})" if provider in errors else ""
            raise InvalidFallbacks(f"fallbacks: {fallback} is not a known model{why}", details=where)
        if not saved.get(fallback, catalog.ModelSettings()).enabled:
            raise InvalidFallbacks(f"fallbacks: {fallback} is disabled: enable it first", details=where)


def _no_cycle(db: Db, model_id: str, chain: list[str]) -> None:
    """Every saved chain, with this model's replaced, must not lead back to `model_id`."""
    db.lock("fallback chains")  # two chains saved at once could each pass, and make a cycle together
    graph = {mid: ms.fallbacks for mid, ms in catalog.all_model_settings(db).items()}
    graph[model_id] = chain
    path = [model_id]
    seen: set[str] = set()

    def walk(node: str) -> bool:
        for nxt in graph.get(node, []):
            path.append(nxt)
            if nxt == model_id:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if walk(nxt):
                    return True
            path.pop()
        return False

    if walk(model_id):
        raise FallbackCycle("fallbacks: this chain makes a cycle: " + " → ".join(path),
                            details={"field": "fallbacks", "cycle": path})

"""Which models can read images: asked of the provider, cached per process.

- Ollama: `/api/show` lists the model's `capabilities`; `vision` means it takes images
  (the bundled smollm2 and the test model list only `completion`).
- Bedrock: ListFoundationModels' `inputModalities` (the catalog's listing keeps them as
  `details.vision`; an inference profile has its model's). A model the listing does not
  name (an application profile's ARN) is not judged here: Bedrock's own refusal says it.

A preset is its base model. The answer is kept `TTL_S` (a model pulled again may change).
The chat path asks `known` inside its transaction (no I/O) and `learn` outside it."""

from __future__ import annotations

import time
from typing import Any

from omnichat.config import Settings

TTL_S = 300.0
_known: dict[tuple[str, str], tuple[float, bool]] = {}


def _key(provider: str, name: str) -> tuple[str, str]:
    return provider, name


def known(provider: str, name: str) -> bool | None:
    """Whether the model reads images, if learnt lately; None: ask `learn` first."""
    found = _known.get(_key(provider, name))
    if found is None or found[0] < time.monotonic():
        return None
    return found[1]


async def learn(settings: Settings, provider: str, name: str) -> bool:
    can = await _ask(settings, provider, name)
    _known[_key(provider, name)] = (time.monotonic() + TTL_S, can)
    return can


async def _ask(settings: Settings, provider_name: str, name: str) -> bool:
    from omnichat.providers import registry

    if provider_name == "ollama":
        provider: Any = registry.get_provider(settings, "ollama")
        try:
            shown = await provider.show(name)
        except Exception:  # an unreachable server fails the call itself, with its own error
            return True
        return "vision" in (shown.get("capabilities") or ())
    if provider_name == "bedrock":
        from omnichat.catalog import catalog

        models, _ = await catalog.discover(settings)
        for m in models:
            if m.provider == "bedrock" and m.name == name:
                return bool(m.details.get("vision"))
        return True
    return True


def forget() -> None:
    _known.clear()

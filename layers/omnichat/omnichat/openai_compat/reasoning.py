"""`reasoning_effort` -> a thinking budget, for the models that can think.

Bedrock: Anthropic models with extended thinking (Claude 3.7 Sonnet and the Claude 4
family) take `thinking.budget_tokens` (at least 1,024). Ollama: models whose `/api/show`
lists the `thinking` capability (asked once per model and cached). Other models ignore
the parameter, as OpenAI-compatible servers commonly do, rather than refuse the request."""

from __future__ import annotations

import re
import time
from typing import Any

BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
_BEDROCK_THINKING = re.compile(r"anthropic\.claude-(3-7-sonnet|sonnet-4|opus-4|haiku-4)", re.IGNORECASE)
_CAPS_TTL_S = 300.0
_ollama_caps: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}


def bedrock_can_think(model_name: str) -> bool:
    return bool(_BEDROCK_THINKING.search(model_name))


async def ollama_capabilities(provider: Any, model_name: str) -> frozenset[str]:
    key = (provider.host, model_name)
    cached = _ollama_caps.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    try:
        caps = frozenset((await provider.show(model_name)).get("capabilities") or ())
    except Exception:  # an unknown model fails the chat call itself, with its own error
        return frozenset()
    _ollama_caps[key] = (time.monotonic() + _CAPS_TTL_S, caps)
    return caps


async def budget_for(provider_name: str, provider: Any, model_name: str, effort: str | None) -> int | None:
    """The thinking budget for this effort on this model, or None (no thinking)."""
    if effort is None or effort not in BUDGETS:
        return None
    if provider_name == "bedrock":
        return BUDGETS[effort] if bedrock_can_think(model_name) else None
    if provider_name == "ollama":
        return BUDGETS[effort] if "thinking" in await ollama_capabilities(provider, model_name) else None
    return None

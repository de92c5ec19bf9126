"""Texts into unit vectors with the configured embedding model (`Settings.embed_model`:
`ollama/all-minilm:l6-v2` by default, `bedrock/amazon.titan-embed-text-v2:0` works too).

No HTTP client of its own: the calls are the providers' `embed` (Ollama's `/api/embed`
through `OllamaProvider` or the node router, Bedrock's InvokeModel through
`providers/bedrock_embed.py`), so timeouts, retries and the typed `ProviderError`s are the
chat's. Texts go `BATCH` at a time; each is cut at `MAX_CHARS` characters first (the
server then truncates to the model's own context, as Ollama does by default). Vectors come
back L2-normalised, whatever the backend did, so a dot product is the cosine.

`embed` is for synchronous callers (the indexer's worker thread, the benchmark); `aembed`
for code already on an event loop.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Sequence
from typing import Any

from omnichat.config import Settings

BATCH = 32
MAX_CHARS = 8_000  # ~2,000 tokens: more than a chunk holds; models truncate to their context beyond
__all__ = ["BATCH", "MAX_CHARS", "aembed", "embed", "unit"]


def unit(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to length 1 (a zero vector stays zero)."""
    norm = math.sqrt(math.fsum(v * v for v in vector))
    return [float(v) / norm for v in vector] if norm > 0 else [0.0 for _ in vector]


def _prepare(text: str) -> str:
    text = text[:MAX_CHARS]
    return text if text.strip() else " "  # an empty input is a load request to Ollama, not a text


async def aembed(settings: Settings, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
    """One unit vector per text, in order, from `model` (default: `settings.embed_model`)."""
    from omnichat.catalog.catalog import split_id
    from omnichat.providers import registry

    provider_name, name = split_id(model or settings.embed_model)
    provider: Any = registry.get_provider(settings, provider_name)
    vectors: list[list[float]] = []
    for start in range(0, len(texts), BATCH):
        batch = [_prepare(t) for t in texts[start:start + BATCH]]
        got, _tokens = await provider.embed(name, batch)
        vectors.extend(unit(v) for v in got)
    return vectors


def embed(settings: Settings, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
    """`aembed` for a synchronous caller. Called from a thread that runs an event loop, the
    work goes to a thread of its own (a loop cannot be re-entered)."""
    if not texts:
        return []
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(aembed(settings, texts, model))
    result: list[list[list[float]]] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(aembed(settings, texts, model)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=work, name="omnichat-embed")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]

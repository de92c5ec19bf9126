"""The deterministic test model, served only when the server is started with
`--deterministic` (or `OMNICHAT_OLLAMA_ENGINE=deterministic`).

It answers instantly and repeatably (see `DeterministicEngine` for the `[[tokens=N]]`,
`[[rate=R]]` and `[[echo=1]]` directives), so tests and load benchmarks can exercise the
whole HTTP path without llama.cpp. It serves many requests at once (it is thread-safe),
and embeds text into `EMBED_DIMENSIONS` numbers (`expected_embedding`). It is always
listed and cannot be pulled or deleted.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from hashlib import sha256

from local.engines import EMBED_DIMENSIONS, DeterministicEngine, deterministic_vector

from .catalog import ServedModel
from .embedding import normalized

__all__ = ["EMBED_DIMENSIONS", "TEST_MODEL", "deterministic_model", "expected_embedding"]

TEST_MODEL = "omnichat-test:latest"


def expected_embedding(text: str, dimensions: int | None = None) -> list[float]:
    """What `/api/embed` answers for `text` with the test model (not truncated): the
    engine's raw vector through the server's own normalisation."""
    return normalized(deterministic_vector(text), dimensions)


def deterministic_model(name: str = TEST_MODEL, tokens_per_second: float = 0.0,
                        context_length: int = 1 << 20, load_s: float = 0.0) -> ServedModel:
    def load() -> DeterministicEngine:
        time.sleep(load_s)  # a real model's load from disk (runs on the runner's worker thread)
        return DeterministicEngine(tokens_per_second=tokens_per_second, context_length=context_length)

    return ServedModel(
        name=name,
        size=0,
        digest=sha256(name.encode()).hexdigest(),
        modified_at=datetime(2025, 1, 1, tzinfo=timezone.utc).isoformat(),
        details={
            "parent_model": "",
            "format": "deterministic",
            "family": "omnichat-test",
            "families": ["omnichat-test"],
            "parameter_size": "0",
            "quantization_level": "none",
        },
        load=load,
        context_length=context_length,
        builtin=True,
        show={"license": "test model: deterministic output for tests and benchmarks"},
    )

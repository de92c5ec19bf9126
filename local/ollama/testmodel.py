"""The deterministic test model, served only when the server is started with
`--deterministic` (or `OMNICHAT_OLLAMA_ENGINE=deterministic`).

It answers instantly and repeatably (see `DeterministicEngine` for the `[[tokens=N]]`,
`[[rate=R]]` and `[[echo=1]]` directives), so tests and load benchmarks can exercise the
whole HTTP path without llama.cpp. It is always listed and cannot be pulled or deleted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from hashlib import sha256

from local.engines import DeterministicEngine

from .catalog import ServedModel

TEST_MODEL = "omnichat-test:latest"


def deterministic_model(name: str = TEST_MODEL, tokens_per_second: float = 0.0) -> ServedModel:
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
        load=lambda: DeterministicEngine(tokens_per_second=tokens_per_second),
        context_length=1 << 20,
        builtin=True,
        show={"license": "test model: deterministic output for tests and benchmarks"},
    )

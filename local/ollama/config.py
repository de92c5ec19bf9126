"""Server settings, from Ollama's own environment variables where Ollama has one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from local.models import default_cache_dir, default_models_dir

from .schemas import keep_alive_seconds

ENGINE_ENV = "OMNICHAT_OLLAMA_ENGINE"  # "llama" (default) or "deterministic"


@dataclass(frozen=True)
class ServerConfig:
    models_dir: Path
    cache_dir: Path
    # Serve the deterministic test model (testmodel.py) next to the GGUF models.
    deterministic: bool = False
    deterministic_rate: float = 0.0  # tokens/s of the test model; 0 = as fast as possible
    deterministic_context: int = 1 << 20  # words of prompt the test model takes (tests of overflow)
    deterministic_load_s: float = 0.0  # how long loading the test model takes (a real model: seconds to minutes)
    keep_alive: float | None = 300.0  # seconds; None = forever (OLLAMA_KEEP_ALIVE, 5m)
    max_queue: int = 512  # waiting requests per model (OLLAMA_MAX_QUEUE)
    # Requests a model runs at once (OLLAMA_NUM_PARALLEL), within what its engine allows:
    # llama.cpp 1, the test model 256. None = the engine's own limit.
    num_parallel: int | None = None
    max_loaded: int = 3  # OLLAMA_MAX_LOADED_MODELS
    num_ctx: int = 4096  # OLLAMA_CONTEXT_LENGTH
    num_threads: int | None = None  # llama.cpp threads (OMNICHAT_LLAMA_THREADS)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServerConfig:
        e = dict(os.environ if env is None else env)

        def num(key: str, default: int) -> int:
            return int(e[key]) if e.get(key) else default

        engine = e.get(ENGINE_ENV, "llama").strip().lower()
        if engine not in ("llama", "deterministic"):
            raise ValueError(f"{ENGINE_ENV} must be 'llama' or 'deterministic', not {engine!r}")
        return cls(
            # Not OLLAMA_MODELS: that names a real Ollama's store, whose layout differs.
            models_dir=default_models_dir(),
            cache_dir=default_cache_dir(),
            deterministic=engine == "deterministic",
            keep_alive=keep_alive_seconds(e.get("OLLAMA_KEEP_ALIVE"), 300.0),
            max_queue=num("OLLAMA_MAX_QUEUE", 512),
            num_parallel=num("OLLAMA_NUM_PARALLEL", 0) or None,
            max_loaded=num("OLLAMA_MAX_LOADED_MODELS", 3),
            num_ctx=num("OLLAMA_CONTEXT_LENGTH", 4096),
            num_threads=num("OMNICHAT_LLAMA_THREADS", 0) or None,
        )

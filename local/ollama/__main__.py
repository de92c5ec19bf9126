"""`python -m local.ollama`: run the Ollama-compatible server under uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from .config import ENGINE_ENV, ServerConfig
from .schemas import keep_alive_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.ollama", description="Ollama-compatible server on llama.cpp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--models-dir", type=Path, help="default: $OMNICHAT_MODELS_DIR or .omnichat/models")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help=f"also serve the deterministic test model omnichat-test:latest (or {ENGINE_ENV}=deterministic)",
    )
    parser.add_argument("--deterministic-rate", type=float, help="tokens/s of the test model (default: no delay)")
    parser.add_argument("--deterministic-load-s", type=float,
                        help="seconds the test model takes to load, as a real one does (default: none)")
    parser.add_argument("--keep-alive", help="how long models stay loaded: 5m, 30s, -1 (default: $OLLAMA_KEEP_ALIVE)")
    parser.add_argument("--max-queue", type=int, help="waiting requests per model (default $OLLAMA_MAX_QUEUE or 512)")
    parser.add_argument(
        "--num-parallel", type=int, help="requests a model runs at once, within what its engine allows (llama: 1; "
        "default $OLLAMA_NUM_PARALLEL or no cap)"
    )
    parser.add_argument("--num-ctx", type=int, help="context length (default $OLLAMA_CONTEXT_LENGTH or 4096)")
    parser.add_argument(
        "--pull", action="append", default=[], metavar="MODEL", help="install MODEL (e.g. smollm2:135m) before serving"
    )
    parser.add_argument("--log-level", default=os.environ.get("OMNICHAT_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)

    config = ServerConfig.from_env()
    changes: dict[str, object] = {}
    if args.models_dir is not None:
        changes["models_dir"] = args.models_dir
    if args.deterministic:
        changes["deterministic"] = True
    if args.deterministic_rate is not None:
        changes["deterministic_rate"] = args.deterministic_rate
    if args.deterministic_load_s is not None:
        changes["deterministic_load_s"] = args.deterministic_load_s
    if args.keep_alive is not None:
        changes["keep_alive"] = keep_alive_seconds(args.keep_alive, config.keep_alive)
    if args.max_queue is not None:
        changes["max_queue"] = args.max_queue
    if args.num_parallel is not None:
        changes["num_parallel"] = args.num_parallel or None  # 0: no cap
    if args.num_ctx is not None:
        changes["num_ctx"] = args.num_ctx
    config = replace(config, **changes)  # type: ignore[arg-type]

    for name in args.pull:  # before serving, so the first chat finds the model
        from local.models import ModelError, fetch

        try:
            path = fetch(name, config.models_dir, config.cache_dir).path
        except ModelError as exc:
            print(f"pull {name}: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: {path}", file=sys.stderr)

    import uvicorn

    from .server import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config=config)
    print(f"Ollama-compatible server on http://{args.host}:{args.port} (models: {config.models_dir})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(), access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m omnichat_pull {run,preload,worker,health}

run      wait for `ollama serve`, preload OMNICHAT_PRELOAD_MODELS, load OMNICHAT_LOAD_MODELS
         into memory, then run the pull worker when a database is configured (what
         entrypoint.sh starts)
preload  only the preload and the load
worker   only the pull worker
health   exit 0 if healthy, 1 if not (the container health check)
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .config import Config
from .health import check
from .ollama import wait_until_up
from .store import PullStore
from .worker import Preloader, PullWorker, load_models, on_signal, touch

log = logging.getLogger("omnichat_pull")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m omnichat_pull", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "preload", "worker", "health"])
    args = parser.parse_args(argv)
    config = Config.from_env()

    if args.command == "health":
        ok, message = check(config)
        print(message)
        return 0 if ok else 1

    logging.basicConfig(level=os.environ.get("OMNICHAT_LOG_LEVEL", "INFO").upper(), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s omnichat-pull: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal(stop))

    touch(config.heartbeat_file)
    if not wait_until_up(config.ollama_url, stop=stop, tick=lambda: touch(config.heartbeat_file)):
        return 0  # stopped before the server came up
    failed: dict[str, str] = {}
    if args.command in ("run", "preload") and config.preload:
        results = Preloader(config).run(stop)
        failed = {model: error for model, error in results.items() if error != "ok"}
        if failed:
            log.error("preload incomplete: %s", failed)
    if args.command in ("run", "preload") and config.load:
        loaded = load_models(config, stop)
        failed |= {model: error for model, error in loaded.items() if error != "ok"}
    if args.command == "preload":
        config.heartbeat_file.unlink(missing_ok=True)
        return 1 if failed else 0

    store = PullStore.from_env(os.environ)
    if store is None or not config.worker_enabled:
        log.info("no database configured (or OMNICHAT_PULL_WORKER=false): pull worker not started")
        config.heartbeat_file.unlink(missing_ok=True)
        return 0 if args.command == "run" else 2
    PullWorker(config, store).serve(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())

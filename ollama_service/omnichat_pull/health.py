"""The container health check: Ollama answers, and the companion process (preloader, then
pull worker) is alive if it is supposed to be."""

from __future__ import annotations

import time

from .config import Config
from .ollama import OllamaError, version


def check(config: Config) -> tuple[bool, str]:
    try:
        server = version(config.ollama_url, timeout=5.0)
    except (OSError, OllamaError, ValueError) as exc:
        return False, f"ollama is not answering at {config.ollama_url}: {exc}"
    # The companion writes the heartbeat file while it runs and removes it when it has
    # nothing more to do (no database configured); a stale file means it is stuck.
    try:
        age = time.time() - config.heartbeat_file.stat().st_mtime
    except FileNotFoundError:
        return True, f"ollama {server}"
    if age > config.health_max_age_s:
        return False, f"ollama {server}, but the pull worker has not reported for {age:.0f}s"
    return True, f"ollama {server}, pull worker alive"

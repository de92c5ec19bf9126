"""Settings from the environment, read once."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOCK_FILE_NAME = ".omnichat-pull.lock"


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _models(value: str | None) -> tuple[str, ...]:
    names = (part.strip() for part in (value or "").replace(" ", ",").split(","))
    return tuple(dict.fromkeys(name for name in names if name))  # order kept, duplicates dropped


def _keep_alive(value: str | None) -> str | int | None:
    """Ollama's keep_alive: a Go duration ("30m") as is, a bare number as seconds."""
    text = (value or "").strip()
    if not text:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def local_ollama_url(ollama_host: str | None) -> str:
    """The URL this container reaches its own server at. OLLAMA_HOST is what the server
    binds to (0.0.0.0:11434); a client connects to loopback on the same port."""
    host = (ollama_host or "").strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    port = host.rsplit(":", 1)[1] if ":" in host else "11434"
    return f"http://127.0.0.1:{port or '11434'}"


def default_worker_id(env: Mapping[str, str]) -> str:
    metadata = env.get("ECS_CONTAINER_METADATA_URI_V4", "")
    task = metadata.rstrip("/").rsplit("/", 1)[-1] if metadata else ""
    return f"{task or socket.gethostname()}:{os.getpid()}"[:200]


@dataclass(frozen=True)
class Config:
    ollama_url: str = "http://127.0.0.1:11434"
    models_dir: Path = Path("/models")
    preload: tuple[str, ...] = ()
    # Loaded into memory once preloaded, so the first chat does not wait for the load, and
    # kept for `load_keep_alive` (None: the server's OLLAMA_KEEP_ALIVE).
    load: tuple[str, ...] = ()
    load_keep_alive: str | int | None = None
    worker_enabled: bool = True
    worker_id: str = field(default_factory=lambda: default_worker_id(os.environ))
    poll_s: float = 2.0  # how often an idle worker looks for queued pulls
    stale_s: float = 120.0  # a running pull without a heartbeat this long is requeued
    heartbeat_s: float = 10.0  # progress/heartbeat writes while a pull is quiet
    progress_interval_s: float = 1.0  # at most one progress write per interval
    heartbeat_file: Path = Path("/tmp/omnichat-pull.heartbeat")
    health_max_age_s: float = 300.0

    @property
    def lock_path(self) -> Path:
        return self.models_dir / LOCK_FILE_NAME

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        e = os.environ if env is None else env
        return cls(
            ollama_url=(e.get("OMNICHAT_OLLAMA_URL") or local_ollama_url(e.get("OLLAMA_HOST"))).rstrip("/"),
            models_dir=Path(e.get("OLLAMA_MODELS") or "/models"),
            preload=_models(e.get("OMNICHAT_PRELOAD_MODELS")),
            load=_models(e.get("OMNICHAT_LOAD_MODELS")),
            load_keep_alive=_keep_alive(e.get("OMNICHAT_LOAD_KEEP_ALIVE")),
            worker_enabled=_bool(e.get("OMNICHAT_PULL_WORKER"), True),
            worker_id=e.get("OMNICHAT_WORKER_ID") or default_worker_id(e),
            poll_s=float(e.get("OMNICHAT_PULL_POLL_S") or 2.0),
            stale_s=float(e.get("OMNICHAT_PULL_STALE_S") or 120.0),
            heartbeat_s=float(e.get("OMNICHAT_PULL_HEARTBEAT_S") or 10.0),
            progress_interval_s=float(e.get("OMNICHAT_PULL_PROGRESS_S") or 1.0),
            heartbeat_file=Path(e.get("OMNICHAT_HEARTBEAT_FILE") or "/tmp/omnichat-pull.heartbeat"),
            health_max_age_s=float(e.get("OMNICHAT_HEALTH_MAX_AGE_S") or 300.0),
        )

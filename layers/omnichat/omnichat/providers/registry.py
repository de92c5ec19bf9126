"""Provider instances by name, one per process and settings (their HTTP clients and
connections are reused across warm invocations)."""

from __future__ import annotations

import threading
from typing import Any

from omnichat.config import Settings

PROVIDERS = ("ollama", "bedrock")
_lock = threading.Lock()
_instances: dict[tuple[int, str], Any] = {}


def enabled(settings: Settings, name: str) -> bool:
    return {"ollama": settings.ollama_enabled, "bedrock": settings.bedrock_enabled}.get(name, False)


def get_provider(settings: Settings, name: str) -> Any:
    key = (id(settings), name)
    with _lock:
        if key not in _instances:
            if name == "ollama" and settings.ollama_routed:
                from omnichat.providers.ollama_router import OllamaRouter

                _instances[key] = OllamaRouter(settings)
            elif name == "ollama":
                from omnichat.providers.ollama import OllamaProvider

                _instances[key] = OllamaProvider(settings)
            elif name == "bedrock":
                from omnichat.providers.bedrock import BedrockProvider

                _instances[key] = BedrockProvider(settings)
            else:
                raise KeyError(name)
        return _instances[key]

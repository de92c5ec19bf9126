"""What the request handlers share: settings, the model catalog, the scheduler."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .catalog import Catalog
from .config import ServerConfig
from .scheduler import Scheduler


class ModelNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"model '{name}' not found")


class ModelNotPulled(ModelNotFound):
    """What Ollama's scheduler says of an unknown model (the embedding endpoints)."""

    def __init__(self, name: str) -> None:
        Exception.__init__(self, f"model {json.dumps(name)} not found, try pulling it first")  # Go's %q


@dataclass
class ServerState:
    config: ServerConfig
    catalog: Catalog
    scheduler: Scheduler

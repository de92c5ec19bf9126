"""What the request handlers share: settings, the model catalog, the scheduler."""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import Catalog
from .config import ServerConfig
from .scheduler import Scheduler


class ModelNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"model '{name}' not found")


@dataclass
class ServerState:
    config: ServerConfig
    catalog: Catalog
    scheduler: Scheduler

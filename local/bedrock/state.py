"""What one emulator instance holds: catalog, engines, faults, prompt cache, and a
journal of the requests it received (so tests can see exactly what reached "Bedrock")."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .access import ModelAccess
from .caching import PromptCache
from .catalog import Catalog, FoundationModel
from .errors import AwsError
from .faults import FaultInjector
from .generation import EngineRunner


class RequestJournal:
    """The last `maxlen` requests, newest last: operation, modelId and JSON body."""

    def __init__(self, maxlen: int = 200) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def record(self, operation: str, model_id: str | None, body: Any) -> None:
        with self._lock:
            self._entries.append({"operation": operation, "modelId": model_id, "body": body})

    def entries(self, operation: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if operation in (None, e["operation"])]

    def last(self, operation: str | None = None) -> dict[str, Any]:
        found = self.entries(operation)
        if not found:
            raise LookupError(f"no {operation or ''} request recorded")
        return found[-1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class EmulatorState:
    catalog: Catalog
    runners: dict[str, EngineRunner]  # engine key (FoundationModel.engine) -> runner
    faults: FaultInjector = field(default_factory=FaultInjector)
    cache: PromptCache = field(default_factory=PromptCache)
    journal: RequestJournal = field(default_factory=RequestJournal)
    access: ModelAccess = field(default_factory=ModelAccess)

    def runner_for(self, model: FoundationModel) -> EngineRunner:
        runner = self.runners.get(model.engine)
        if runner is None:  # catalog lists a model whose engine is not loaded
            raise AwsError("ModelNotReadyException", f"Model {model.model_id} is not ready.")
        return runner

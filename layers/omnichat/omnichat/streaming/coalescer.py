"""Coalescing deltas: a model emits tokens one by one; posting each to API Gateway would
cost one `post_to_connection` per token. Text is buffered until it is `max_delay_s` old or
`max_chars` long, whichever comes first."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Coalescer:
    max_delay_s: float = 0.05
    max_chars: int = 4096
    clock: Callable[[], float] = field(default=time.monotonic)
    _text: list[str] = field(default_factory=list)
    _reasoning: list[str] = field(default_factory=list)
    _size: int = 0
    _since: float | None = None  # when the oldest buffered piece arrived

    def add(self, text: str = "", reasoning: str = "") -> None:
        if not text and not reasoning:
            return
        if self._since is None:
            self._since = self.clock()
        if text:
            self._text.append(text)
        if reasoning:
            self._reasoning.append(reasoning)
        self._size += len(text) + len(reasoning)

    @property
    def empty(self) -> bool:
        return self._since is None

    def due(self) -> bool:
        return not self.empty and (self._size >= self.max_chars or self.seconds_left() <= 0)

    def seconds_left(self) -> float:
        """Until the buffered text must go out (infinite when nothing is buffered)."""
        if self._since is None:
            return float("inf")
        return self._since + self.max_delay_s - self.clock()

    def take(self) -> tuple[str, str]:
        text, reasoning = "".join(self._text), "".join(self._reasoning)
        self._text, self._reasoning, self._size, self._since = [], [], 0, None
        return text, reasoning

"""Prompt caching as Bedrock does it, for Converse and ConverseStream.

A `cachePoint` block ends a cacheable prefix; the prefix runs tools, then system, then
messages, and is cached per model and exact content. Rules (Bedrock's user guide):
  - a model without prompt caching refuses any cachePoint (ValidationException), and Nova
    refuses one in `toolConfig.tools` (as a malformed request);
  - at most 4 checkpoints per request;
  - a checkpoint counts only when the prefix since the previous counted one holds the
    model's minimum tokens; below it the call succeeds uncached;
  - an entry lives 5 minutes, each hit resetting the clock.
A call reads the longest cached prefix among its checkpoints and writes the rest up to its
last one: `cacheReadInputTokens` + `cacheWriteInputTokens` + `inputTokens` (the uncached
remainder) make up the prompt. Tokens are the engine's: words.

Time to first token follows: the emulated prefill processes every token not read from the
cache at `prefill_tokens_per_s`, so a hit answers sooner than a write.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import FoundationModel
from .errors import validation

MAX_CACHE_POINTS = 4
TTL_S = 300.0
MAX_ENTRIES = 4096  # an emulator serves tests and a laptop: old entries make way
UNSUPPORTED = ("You invoked an unsupported model or your request did not allow prompt caching. "
               "See the documentation for more information.")
TOO_MANY = ("The model returned the following errors: A maximum of 4 blocks with cache_control "
            "may be provided. Found {found}.")
NOT_IN_TOOLS = ("Malformed input request: #/toolConfig/tools/{index}: extraneous key [cachePoint] "
                "is not permitted, please reformat your input and try again.")


@dataclass(frozen=True)
class Checkpoint:
    key: str  # digest of the model id and the exact prefix
    tokens: int  # the prefix's tokens


class CacheMarks:
    """Fed a request's content in prefix order; keeps the checkpoints that count."""

    def __init__(self, model: FoundationModel) -> None:
        self.model = model
        self.found = 0  # cachePoint blocks seen, counted or not
        self.points: list[Checkpoint] = []
        self._digest = hashlib.sha256(model.model_id.encode())
        self._tokens = 0
        self._since = 0

    def text(self, text: str) -> None:
        self._digest.update(b"\x00" + text.encode())
        words = len(text.split())
        self._tokens += words
        self._since += words

    def mark(self, block: Any, where: str) -> None:
        """A cachePoint block's value, at `where` (e.g. "system.1")."""
        if not self.model.prompt_cache:
            raise validation(UNSUPPORTED)
        if not isinstance(block, dict) or block.get("type") != "default" or not set(block) <= {"type", "ttl"}:
            raise validation(f"The cachePoint at {where} must be {{\"type\": \"default\"}}.")
        if block.get("ttl", "5m") != "5m":
            raise validation(f"The cachePoint at {where} asks for a ttl this model does not support.")
        self.found += 1
        if self._since >= self.model.cache_min_tokens:
            self.points.append(Checkpoint(self._digest.copy().hexdigest(), self._tokens))
            self._since = 0

    def tools(self, config: Any) -> int:
        """Feed `toolConfig.tools` (checked in full later); returns their tokens."""
        tools = config.get("tools") if isinstance(config, dict) else None
        before = self._tokens
        for i, tool in enumerate(tools if isinstance(tools, list) else []):
            if isinstance(tool, dict) and "cachePoint" in tool:
                if self.model.prompt_cache and not self.model.cache_tools:
                    raise validation(NOT_IN_TOOLS.format(index=i))
                self.mark(tool["cachePoint"], f"toolConfig.tools.{i}")
            elif isinstance(tool, dict):
                self.text(_canonical(tool))
        return self._tokens - before

    def check(self) -> None:
        if self.found > MAX_CACHE_POINTS:
            raise validation(TOO_MANY.format(found=self.found))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


class PromptCache:
    """Cached prefixes of one emulator, with Bedrock's time to live, and the prefill model.
    `clock` is injectable so tests can let entries expire without waiting."""

    def __init__(self, *, ttl_s: float = TTL_S, prefill_tokens_per_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.prefill_tokens_per_s = prefill_tokens_per_s
        self.clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def account(self, points: Sequence[Checkpoint]) -> tuple[int, int]:
        """(cache read tokens, cache write tokens) of a call with these checkpoints; the
        call's prefixes are (re)cached from now on."""
        if not points:
            return 0, 0
        with self._lock:
            now = self.clock()
            hits = [p for p in points if self._expiry.get(p.key, -1.0) > now]
            read = hits[-1].tokens if hits else 0
            for point in points:
                self._expiry[point.key] = now + self.ttl_s
                self._expiry.move_to_end(point.key)
            while len(self._expiry) > MAX_ENTRIES:
                self._expiry.popitem(last=False)
        return read, points[-1].tokens - read

    def prefill_seconds(self, uncached_tokens: int) -> float:
        rate = self.prefill_tokens_per_s
        return uncached_tokens / rate if rate > 0 else 0.0

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()

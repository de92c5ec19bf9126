"""From a validated `ConverseCall` to model output: reasoning, text, tool calls, usage.

Engines are synchronous (llama.cpp contexts are not thread-safe), so each runs on a
worker thread that feeds an asyncio queue; an engine that is not safe to share gets one
request at a time. Converse and ConverseStream both consume `generate()`; InvokeModel
on an embedding model uses `EngineRunner.embed`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from local.engines import ContextOverflow, Embeddings, Engine, Piece
from local.schema_instance import instance

from .caching import PromptCache
from .validation import ConverseCall, ToolDef

_TOOL_DIRECTIVE = re.compile(r"\[\[tool=([a-zA-Z0-9_-]{1,64})\]\]")
_REASONING_WORDS = (
    "first consider what the user asks then check the facts recall the context weigh "
    "each option and settle on a short clear answer"
).split()


@dataclass(frozen=True)
class TextOut:
    text: str


@dataclass(frozen=True)
class ReasoningOut:
    text: str = ""
    signature: str = ""  # set on the last reasoning chunk only


@dataclass(frozen=True)
class ToolOut:
    tool_use_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class DoneOut:
    stop_reason: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


Output = TextOut | ReasoningOut | ToolOut | DoneOut


class EngineFailure(Exception):
    """The engine raised while generating (reported as a model error)."""


class PromptTooLong(EngineFailure):
    """The engine could not fit the prompt in its context (a validation error)."""


class EngineRunner:
    """Runs one engine's `generate` on worker threads, streaming pieces back."""

    def __init__(self, engine: Engine, executor: Executor, *, shared: bool | None = None) -> None:
        self.engine = engine
        self.executor = executor
        # As many at once as the engine says it can serve (llama.cpp: one; see local/engines.py).
        parallel = getattr(engine, "max_parallel", 1) if shared is None else (64 if shared else 1)
        self._gate = threading.BoundedSemaphore(max(1, parallel))

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        """The engine's raw vectors and token count, computed on a worker thread under the
        same gate as generation (a llama.cpp engine serves one request at a time)."""

        def work() -> Embeddings:
            with self._gate:
                try:
                    return self.engine.embed(list(texts), truncate=False)
                except ContextOverflow as exc:
                    raise PromptTooLong(str(exc)) from exc
                except Exception as exc:  # reported as a model error
                    raise EngineFailure(f"{type(exc).__name__}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    async def stream(self, turns: Sequence[dict], **params: Any) -> AsyncGenerator[Piece, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        done = object()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # loop closed: nobody is listening any more
                cancelled.set()

        def work() -> None:
            with self._gate:
                pieces = self.engine.generate(list(turns), **params)
                try:
                    for piece in pieces:
                        if cancelled.is_set():
                            break
                        put(piece)
                except ContextOverflow as exc:
                    put(PromptTooLong(str(exc)))
                except Exception as exc:  # handed to the async side
                    put(EngineFailure(f"{type(exc).__name__}: {exc}"))
                finally:
                    close = getattr(pieces, "close", None)
                    if close is not None:
                        close()
                    put(done)

        loop.run_in_executor(self.executor, work)
        try:
            while True:
                item = await queue.get()
                if item is done:
                    return
                if isinstance(item, EngineFailure):
                    raise item
                yield item
        finally:
            cancelled.set()  # client went away or we stopped early: free the engine


class StopScanner:
    """Cuts streamed text at the first stop sequence, holding back any tail that could
    still turn into one, so a stop sequence never leaks out half-sent."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        buf = self.pending + text
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.pending = ""
            return buf[: min(hits)], True
        keep = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(buf)), keep, -1):
                if buf.endswith(stop[:k]):
                    keep = k
                    break
        self.pending = buf[len(buf) - keep:] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def tool_input(tool: ToolDef, prompt: str) -> dict[str, Any]:
    """Arguments for a tool call that conform to its input schema, derived from the schema
    and the prompt only (local/schema_instance.py)."""
    value = instance(tool.schema, seed=f"{tool.name}\x00{prompt}")
    return value if isinstance(value, dict) else {}


def pick_tool(call: ConverseCall) -> ToolDef | None:
    """Which tool the emulated model calls: one named by `[[tool=NAME]]` in the last user
    text, else whatever toolChoice forces, else none."""
    if not call.tools:
        return None
    match = _TOOL_DIRECTIVE.search(call.last_user_text)
    if match and match.group(1) in call.tools:
        return call.tools[match.group(1)]
    if call.tool_choice == "any":
        return next(iter(call.tools.values()))
    if call.tool_choice not in (None, "auto"):
        return call.tools[call.tool_choice]
    return None


def _reasoning(call: ConverseCall) -> list[str]:
    seed = _digest("reasoning", call.last_user_text)
    n = min(call.thinking_budget or 0, 8 + seed[0] % 8)
    return [_REASONING_WORDS[(seed[i % 32] + i) % len(_REASONING_WORDS)] + " " for i in range(n)]


async def _no_pieces() -> AsyncGenerator[Piece, None]:
    return
    yield  # an async generator that yields nothing


async def _schema_pieces(call: ConverseCall) -> AsyncGenerator[Piece, None]:
    """Native structured output: a value made from the schema, as JSON, a few characters a
    token (local/schema_instance.py), cut at maxTokens like any answer."""
    text = json.dumps(instance(call.output_schema, seed=call.last_user_text))
    chunks = [text[i:i + 4] for i in range(0, len(text), 4)]
    kept = chunks[:call.max_tokens]
    for chunk in kept:
        yield Piece(chunk)
    prompt_tokens = sum(len(t["content"].split()) for t in call.turns)
    yield Piece("", "length" if len(kept) < len(chunks) else "stop", prompt_tokens, len(kept))


async def generate(
    call: ConverseCall, runner: EngineRunner, cache: PromptCache,
) -> AsyncGenerator[Output, None]:
    # Cache hits are decided as the call starts; the prefill reads what was not cached
    # (a real GGUF engine does its own prefill, in real time).
    cache_read, cache_write = cache.account(call.cache_points)
    if call.model.engine != "llama":
        prompt_words = sum(len(t["content"].split()) for t in call.turns) + call.tool_tokens
        delay = cache.prefill_seconds(prompt_words - cache_read)
        if delay > 0:
            await asyncio.sleep(delay)
    output_tokens = 0
    if call.thinking_budget:
        words = _reasoning(call)
        for word in words:
            yield ReasoningOut(text=word)
        yield ReasoningOut(signature=_digest("signature", *words).hex())
        output_tokens += len(words)

    scanner = StopScanner(call.stop)
    stop_reason, prompt_tokens, text_tokens = "end_turn", None, 0
    # A forced tool choice (`any` or a named tool) makes the model call a tool at once,
    # without text: Bedrock's "no text is generated".
    forced = call.tool_choice not in (None, "auto")
    pieces = _no_pieces() if forced else _schema_pieces(call) if call.output_schema is not None else runner.stream(
        call.turns, max_tokens=max(1, call.max_tokens - output_tokens),
        temperature=call.temperature, top_p=call.top_p,
    )
    try:
        async for piece in pieces:
            if piece.text:
                text_tokens += 1
                text, hit = scanner.feed(piece.text)
                if text:
                    yield TextOut(text)
                if hit:
                    stop_reason = "stop_sequence"
                    break
            if piece.stop_reason is not None:
                stop_reason = "max_tokens" if piece.stop_reason == "length" else "end_turn"
                # The engine's own counts are the truth when it got to the end.
                prompt_tokens, text_tokens = piece.prompt_tokens, piece.completion_tokens
    finally:
        await pieces.aclose()
    output_tokens += text_tokens
    tail = scanner.flush() if stop_reason != "stop_sequence" else ""
    if tail:
        yield TextOut(tail)

    tool = pick_tool(call) if stop_reason == "end_turn" else None
    if tool is not None:
        args = tool_input(tool, call.last_user_text)
        tool_id = "tooluse_" + _digest(tool.name, call.last_user_text).hex()[:22]
        yield ToolOut(tool_id, tool.name, args)
        output_tokens += max(1, len(json.dumps(args)) // 4)
        stop_reason = "tool_use"

    if prompt_tokens is None:  # stopped early: count the way the engines do, in words
        prompt_tokens = sum(len(t["content"].split()) for t in call.turns)
    yield DoneOut(
        stop_reason=stop_reason,
        input_tokens=max(0, prompt_tokens + call.tool_tokens - cache_read - cache_write),
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )

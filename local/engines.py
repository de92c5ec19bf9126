"""Text-generation engines shared by the local model servers (local/ollama, local/bedrock).

An engine is synchronous and single-threaded (llama.cpp contexts are not thread-safe):
servers run it on a worker thread and queue requests. `generate` yields `Piece`s; the
last one has `stop_reason` set ("stop" | "length").

Engines: `DeterministicEngine` (tests and load benchmarks) and `LlamaEngine` (real GGUF
models through llama-cpp-python). An engine may also have `close()` to free its memory.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

ChatTurn = dict  # {"role": "system"|"user"|"assistant", "content": str}


@dataclass(frozen=True)
class Piece:
    text: str
    stop_reason: str | None = None  # set on the last piece only
    prompt_tokens: int = 0  # set on the last piece only
    completion_tokens: int = 0  # set on the last piece only


class Engine(Protocol):
    name: str

    def generate(
        self,
        messages: Sequence[ChatTurn],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Iterator[Piece]: ...


_WORDS = (
    "the quick brown fox jumps over a lazy dog while streams of tokens flow through "
    "serverless functions into websockets and every message is kept safe"
).split()

# Directives a test can put in the last user message to shape the deterministic output.
_DIRECTIVE = re.compile(r"\[\[(tokens|rate|echo)=([^\]]*)\]\]")


class DeterministicEngine:
    """A fast, repeatable engine for tests and load benchmarks.

    The output depends only on the prompt. Each token is one word followed by a space.
    Directives in the last user message: `[[tokens=N]]` (length, default
    `default_tokens`), `[[rate=R]]` (tokens per second; default `tokens_per_second`,
    0 = as fast as possible), `[[echo=1]]` (answer with the user's text instead).
    """

    name = "deterministic"

    def __init__(self, default_tokens: int = 24, tokens_per_second: float = 0.0) -> None:
        self.default_tokens = default_tokens
        self.tokens_per_second = tokens_per_second

    def generate(
        self,
        messages: Sequence[ChatTurn],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Iterator[Piece]:
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        directives = dict(_DIRECTIVE.findall(last_user))
        n = int(directives.get("tokens", self.default_tokens))
        rate = float(directives.get("rate", self.tokens_per_second))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        if directives.get("echo"):
            tokens = [w + " " for w in _DIRECTIVE.sub("", last_user).split()]
        else:
            digest = hashlib.sha256(last_user.encode()).digest()
            tokens = [_WORDS[(digest[i % 32] + i) % len(_WORDS)] + " " for i in range(n)]
        limit = len(tokens) if max_tokens is None else min(len(tokens), max_tokens)
        stop_reason = "length" if limit < len(tokens) else "stop"
        text_so_far = ""
        sent = 0  # characters of text_so_far already yielded
        start = time.perf_counter()
        for i, tok in enumerate(tokens[:limit]):
            if rate > 0:  # keep a steady pace without drifting
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            text_so_far += tok
            hits = [text_so_far.find(s, max(0, sent - len(s))) for s in stop if s]
            cut = min((h for h in hits if h >= 0), default=-1)
            if cut >= 0:
                if cut > sent:
                    yield Piece(text_so_far[sent:cut])
                yield Piece("", "stop", prompt_tokens, i)
                return
            # Hold back a tail that may be the start of a stop sequence, as llama.cpp does,
            # so the stop text never leaks out when it spans two tokens.
            safe = len(text_so_far) - _stop_prefix_len(text_so_far, stop)
            if safe > sent:
                yield Piece(text_so_far[sent:safe])
                sent = safe
        if sent < len(text_so_far):
            yield Piece(text_so_far[sent:])
        yield Piece("", stop_reason, prompt_tokens, limit)


def _stop_prefix_len(text: str, stop: Sequence[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a stop sequence."""
    best = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best


class ContextOverflow(ValueError):
    """The prompt does not fit in the model's context window."""


class LlamaEngine:
    """A GGUF model run by llama.cpp (llama-cpp-python), prompted with its own chat template.

    Not thread-safe: one instance belongs to one worker thread. `llama_cpp` is imported
    here, when a model is loaded, so nothing else pays for it.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        name: str | None = None,
    ) -> None:
        from llama_cpp import Llama

        self.name = name or Path(model_path).stem
        # n_threads None: llama-cpp-python's default, half the CPUs. All of them is faster on
        # an idle machine (2 vCPUs: 39 → 70 tokens/s) but collapses when other work shares
        # the CPUs (llama.cpp threads spin), so that is left to OMNICHAT_LLAMA_THREADS.
        self._llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        # Streamed chat completions carry no usage, so count at the source: llama-cpp-python
        # calls `self.generate(prompt_tokens)` and iterates the sampled tokens.
        self._prompt_tokens = 0
        self._sampled_tokens = 0
        self._llm.generate = self._counting_generate  # type: ignore[method-assign,assignment]

    def _counting_generate(self, tokens: Sequence[int], *args: object, **kwargs: object) -> Iterator[int]:
        self._prompt_tokens = len(tokens)
        for token in type(self._llm).generate(self._llm, tokens, *args, **kwargs):  # type: ignore[arg-type]
            self._sampled_tokens += 1
            yield token

    @property
    def context_length(self) -> int:
        return int(self._llm.n_ctx())

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._llm.metadata)

    def generate(
        self,
        messages: Sequence[ChatTurn],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Iterator[Piece]:
        options: dict[str, object] = {
            # Without a seed llama-cpp-python derives one from the previous call, which
            # repeats across processes; an unseeded request should be random, as in Ollama.
            "seed": seed if seed is not None else secrets.randbits(31),
            "max_tokens": max_tokens if max_tokens is not None and max_tokens > 0 else None,
            "stop": list(stop),
        }
        if temperature is not None:
            options["temperature"] = temperature
        if top_p is not None:
            options["top_p"] = top_p
        turns = [{"role": m["role"], "content": str(m.get("content") or "")} for m in messages]
        self._prompt_tokens = self._sampled_tokens = 0
        finish_reason = "stop"
        stream: Any = self._llm.create_chat_completion(messages=turns, stream=True, **options)  # type: ignore[arg-type]
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                text = choice["delta"].get("content") or ""
                if text:
                    yield Piece(text)
                finish_reason = choice.get("finish_reason") or finish_reason
        except ValueError as exc:
            if "exceed context window" in str(exc):
                raise ContextOverflow(str(exc)) from exc
            raise
        finally:
            stream.close()
        stop_reason = "length" if finish_reason == "length" else "stop"
        yield Piece("", stop_reason, self._prompt_tokens, self._sampled_tokens)

    def close(self) -> None:
        self._llm.close()

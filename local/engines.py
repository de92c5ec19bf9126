"""Text-generation engines shared by the local model servers (local/ollama, local/bedrock).

An engine is synchronous: servers run it on worker threads and queue requests. It says
how many requests it may serve at once in `max_parallel` (llama.cpp contexts are not
thread-safe: 1). `generate` yields `Piece`s; the last one has `stop_reason` set
("stop" | "length"); with `format` ("json" or a JSON schema) the text is one JSON value,
as Ollama's `format` asks. `embed` turns texts into raw (unnormalised) vectors.

Engines: `DeterministicEngine` (tests and load benchmarks) and `LlamaEngine` (real GGUF
models through llama-cpp-python). An engine may also have `close()` to free its memory.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict, Unpack

from local.schema_instance import instance

ChatTurn = dict  # {"role": "system"|"user"|"assistant", "content": str}


_plain_buffers = False


def load_llama(**kwargs: Any) -> Any:
    """llama_cpp.Llama(**kwargs) with llama.cpp's extra weight buffers off (repacked and
    AMX layouts, `use_extra_bufts`): on CPUs with AMX they crash the process on any decode
    of more than one token (SmolLM2's Q4_1, llama-cpp-python 0.3.35 and 0.3.36). Plain
    buffers cost these small models little. Llama() takes no such argument, so the
    defaults it starts from are changed, once, for this process (a model server)."""
    global _plain_buffers
    import llama_cpp.llama as api

    if not _plain_buffers:
        defaults = api.llama_cpp.llama_model_default_params

        def plain() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        api.llama_cpp.llama_model_default_params = plain
        _plain_buffers = True
    return api.Llama(**kwargs)

@dataclass(frozen=True)
class Piece:
    text: str
    stop_reason: str | None = None  # set on the last piece only
    prompt_tokens: int = 0  # set on the last piece only
    completion_tokens: int = 0  # set on the last piece only


Embeddings = tuple[list[list[float]], int]  # (one raw vector per text, prompt tokens)


class GenerateOptions(TypedDict, total=False):
    """`generate`'s keyword arguments, all optional (absent: None, and no stop sequences).
    Stated once here for the protocol and every engine."""

    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    stop: Sequence[str]
    seed: int | None
    format: str | dict[str, Any] | None  # "json" or a JSON schema


class Engine(Protocol):
    name: str
    max_parallel: int  # requests it may serve at once, each on its own thread

    def generate(self, messages: Sequence[ChatTurn], **options: Unpack[GenerateOptions]) -> Iterator[Piece]: ...

    def embed(self, texts: Sequence[str], *, truncate: bool = True) -> Embeddings:
        """Raw vectors; a text longer than the context is cut (`truncate`) or refused
        (`ContextOverflow`)."""
        ...


_WORDS = (
    "the quick brown fox jumps over a lazy dog while streams of tokens flow through "
    "serverless functions into websockets and every message is kept safe"
).split()

# Directives a test can put in the last user message to shape the deterministic output.
_DIRECTIVE = re.compile(r"\[\[(tokens|rate|echo)=([^\]]*)\]\]")

EMBED_DIMENSIONS = 64  # the deterministic engine's embedding size


def deterministic_vector(text: str, dimensions: int = EMBED_DIMENSIONS) -> list[float]:
    """The deterministic engine's raw embedding of `text`: a hashed vector per word, summed,
    plus one for the whole text, so texts sharing words are close and no two texts (nor
    two orders of the same words) are equal. Not normalised: the server does that."""
    total = _hashed(b"text:" + text.encode(), dimensions)
    for word in re.findall(r"\w+", text.lower()):
        total = [a + b for a, b in zip(total, _hashed(b"word:" + word.encode(), dimensions), strict=True)]
    return total


def _hashed(data: bytes, dimensions: int) -> list[float]:
    raw = hashlib.shake_256(data).digest(2 * dimensions)
    return [v / 32768 for v in struct.unpack(f"<{dimensions}h", raw)]  # in [-1, 1), exact


class DeterministicEngine:
    """A fast, repeatable engine for tests and load benchmarks.

    The output depends only on the prompt. Each token is one word followed by a space.
    Directives in the last user message: `[[tokens=N]]` (length, default
    `default_tokens`), `[[rate=R]]` (tokens per second; default `tokens_per_second`,
    0 = as fast as possible), `[[echo=1]]` (answer with the user's text instead).
    With `format`, the answer is JSON instead, in pieces of a few characters: a value made
    from the schema (local/schema_instance.py), or `{"answer": <the usual words>}` for "json".
    A token of the prompt is a word; `context_length` words fit. Embeddings are
    `deterministic_vector`s. Pure Python with no shared state, so thread-safe.
    """

    name = "deterministic"
    max_parallel = 256

    def __init__(self, default_tokens: int = 24, tokens_per_second: float = 0.0, context_length: int = 1 << 20) -> None:
        self.default_tokens = default_tokens
        self.tokens_per_second = tokens_per_second
        self.context_length = context_length

    def generate(self, messages: Sequence[ChatTurn], **options: Unpack[GenerateOptions]) -> Iterator[Piece]:
        """The sampling options (temperature, top_p, seed) change nothing here."""
        max_tokens, stop, format = options.get("max_tokens"), options.get("stop", ()), options.get("format")
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        directives = dict(_DIRECTIVE.findall(last_user))
        n = int(directives.get("tokens", self.default_tokens))
        rate = float(directives.get("rate", self.tokens_per_second))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        if prompt_tokens > self.context_length:
            raise ContextOverflow.of(prompt_tokens, self.context_length)
        if format is not None:
            tokens = _json_tokens(format, last_user, n)
        elif directives.get("echo"):
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

    def embed(self, texts: Sequence[str], *, truncate: bool = True) -> Embeddings:
        vectors, tokens = [], 0
        for text in texts:
            words = text.split()
            if len(words) > self.context_length:
                if not truncate:
                    raise ContextOverflow.of(len(words), self.context_length)
                words = words[: self.context_length]
                text = " ".join(words)
            vectors.append(deterministic_vector(text))
            tokens += len(words)
        return vectors, tokens


def _json_tokens(format: str | dict[str, Any], prompt: str, n: int) -> list[str]:
    """The deterministic JSON answer, cut in tokens of up to four characters."""
    if isinstance(format, dict):
        value = instance(format, seed=prompt)
    else:
        digest = hashlib.sha256(prompt.encode()).digest()
        value = {"answer": " ".join(_WORDS[(digest[i % 32] + i) % len(_WORDS)] for i in range(n))}
    text = json.dumps(value, ensure_ascii=False)
    return [text[i:i + 4] for i in range(0, len(text), 4)]


def _stop_prefix_len(text: str, stop: Sequence[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a stop sequence."""
    best = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best


class BadInput(ValueError):
    """The engine cannot take this input: the client's mistake."""


class ContextOverflow(BadInput):
    """The prompt does not fit in the model's context window."""

    @classmethod
    def of(cls, tokens: int, limit: int) -> ContextOverflow:
        # llama-cpp-python's own words (LlamaEngine passes its error on as it is), so every
        # engine reports an overflow alike.
        return cls(f"Requested tokens ({tokens}) exceed context window of {limit}")


class LlamaEngine:
    """A GGUF model run by llama.cpp (llama-cpp-python), prompted with its own chat template.

    Not thread-safe: one instance belongs to one worker thread. `llama_cpp` is imported
    here, when a model is loaded, so nothing else pays for it. Embeddings use a second
    context, made on the first `embed` (a context is either for embeddings or not); the
    weights are memory-mapped, so the two share them.
    """

    max_parallel = 1

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name or Path(model_path).stem
        self._path = str(model_path)
        self._n_threads = n_threads
        self._embedder: Any = None  # the embedding context, made on first use
        # n_threads None: llama-cpp-python's default, half the CPUs. All of them is faster on
        # an idle machine (2 vCPUs: 39 → 70 tokens/s) but collapses when other work shares
        # the CPUs (llama.cpp threads spin), so that is left to OMNICHAT_LLAMA_THREADS.
        self._llm = load_llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
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

    def generate(self, messages: Sequence[ChatTurn], **options: Unpack[GenerateOptions]) -> Iterator[Piece]:
        seed, max_tokens = options.get("seed"), options.get("max_tokens")
        sampling: dict[str, object] = {
            # Without a seed llama-cpp-python derives one from the previous call, which
            # repeats across processes; an unseeded request should be random, as in Ollama.
            "seed": seed if seed is not None else secrets.randbits(31),
            "max_tokens": max_tokens if max_tokens is not None and max_tokens > 0 else None,
            "stop": list(options.get("stop", ())),
            # Ollama's default (llama-cpp-python's is 1.0, off): without it, small models
            # such as SmolLM2-135M fall into loops that only the context length ends.
            "repeat_penalty": 1.1,
        }
        if (temperature := options.get("temperature")) is not None:
            sampling["temperature"] = temperature
        if (top_p := options.get("top_p")) is not None:
            sampling["top_p"] = top_p
        if (format := options.get("format")) is not None:
            sampling["grammar"] = json_grammar(format)
        turns = [{"role": m["role"], "content": str(m.get("content") or "")} for m in messages]
        self._prompt_tokens = self._sampled_tokens = 0
        finish_reason = "stop"
        stream: Any = self._llm.create_chat_completion(messages=turns, stream=True, **sampling)  # type: ignore[arg-type]
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

    def embed(self, texts: Sequence[str], *, truncate: bool = True) -> Embeddings:
        if not texts:
            return [], 0
        llm = self._embedding_context()
        n_ctx = int(llm.n_ctx())
        for text in texts:
            n = len(llm.tokenize(text.encode()))
            if n == 0:  # no BOS token and no text: llama.cpp would abort the process
                raise BadInput("no input provided")
            if n > n_ctx and not truncate:
                raise ContextOverflow.of(n, n_ctx)
        # llama-cpp-python cuts each text to n_batch tokens, which is n_ctx here.
        vectors, tokens = llm.embed(list(texts), truncate=True, return_count=True)
        return [list(v) for v in vectors], int(tokens)

    def _embedding_context(self) -> Any:
        if self._embedder is None:
            from llama_cpp import LLAMA_POOLING_TYPE_LAST, LLAMA_POOLING_TYPE_UNSPECIFIED

            from local.embedding_engine import is_embedding_model  # here: that module imports this one

            # An embedding model names its pooling in the GGUF; for a chat model Ollama takes
            # the hidden state of the last token, which is LAST pooling.
            own = is_embedding_model(self.metadata)
            n_ctx = self.context_length
            # n_batch: the longest text (llama-cpp-python cuts there). Embedding models may be
            # non-causal and then need the whole text in one micro-batch (llama.cpp aborts
            # otherwise); LAST pooling of a causal model is exact across micro-batches, and
            # small ones are 2x faster on a long text.
            self._embedder = load_llama(
                model_path=self._path,
                n_ctx=n_ctx,
                n_batch=n_ctx,
                n_ubatch=n_ctx if own else min(512, n_ctx),
                n_threads=self._n_threads,
                embedding=True,
                pooling_type=LLAMA_POOLING_TYPE_UNSPECIFIED if own else LLAMA_POOLING_TYPE_LAST,
                verbose=False,
            )
        return self._embedder

    def close(self) -> None:
        self._llm.close()
        if self._embedder is not None:
            self._embedder.close()


def json_grammar(format: str | dict[str, Any]) -> Any:
    """The llama.cpp grammar for Ollama's `format`: any JSON for "json", else the schema's
    own grammar (llama-cpp-python's converter); a schema it cannot convert is `BadInput`."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    if not isinstance(format, dict):
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    try:
        return LlamaGrammar.from_json_schema(json.dumps(format), verbose=False)
    except Exception as exc:  # the converter raises plain exceptions for what it does not know
        raise BadInput(f"invalid JSON schema in format: {exc}") from exc

"""An embedding-only GGUF model (BERT: `all-minilm:l6-v2`) run by llama.cpp.

A GGUF file that names its pooling (`<arch>.pooling_type`) is an embedding model, as in
Ollama: it embeds and does not generate. Its context is the model's own (512 tokens for
BERT, whose position table ends there), one whole text per micro-batch (the attention is
not causal, so llama.cpp needs a text in one piece), several texts per batch when they fit.

Throughput (bench/embedder.py; all-MiniLM-L6-v2 in F16, one thread of this machine's Xeon
with AVX-512): about 8 passages/s of 1,000 characters (~310 tokens each), bound by the
matrix products (~7.5 GFLOP a passage). Flash attention doubles it (llama.cpp's plain
attention materialises the masked score matrix); a larger batch (1,024 or 2,048 tokens,
several texts each) is slower, Q8_0 weights no faster, and two threads are slower when
other work shares the CPUs (llama.cpp threads spin).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from local.engines import BadInput, ChatTurn, ContextOverflow, Embeddings, Piece, load_llama


def is_embedding_model(meta: dict[str, Any]) -> bool:
    """Ollama's test: an embedding model's GGUF names its pooling type."""
    return f"{meta.get('general.architecture', '')}.pooling_type" in meta


def trained_context(meta: dict[str, Any]) -> int | None:
    value = meta.get(f"{meta.get('general.architecture', '')}.context_length")
    return int(value) if isinstance(value, int) and value > 0 else None


class LlamaEmbedder:
    """Embeds with a GGUF embedding model; `generate` is refused (the server refuses first)."""

    max_parallel = 1  # a llama.cpp context is not thread-safe

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 512,
        n_threads: int | None = None,
        name: str | None = None,
    ) -> None:
        from llama_cpp import LLAMA_POOLING_TYPE_UNSPECIFIED

        self.name = name or Path(model_path).stem
        # Half the CPUs unless told (OMNICHAT_LLAMA_THREADS), for batches too: llama-cpp-python
        # would use all of them there, and with other work on the CPUs that is slower (2 vCPUs
        # under load: 7.4 passages/s on one thread, 1.7 on two).
        threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
        self._llm = load_llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_batch=n_ctx,
            n_ubatch=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            embedding=True,
            pooling_type=LLAMA_POOLING_TYPE_UNSPECIFIED,  # the model's own (mean for all-MiniLM)
            flash_attn=True,
            verbose=False,
        )
        self.context_length = n_ctx

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._llm.metadata)

    def generate(self, messages: Sequence[ChatTurn], **options: Any) -> Iterator[Piece]:
        raise BadInput(f'"{self.name}" does not support generate')

    def embed(self, texts: Sequence[str], *, truncate: bool = True) -> Embeddings:
        if not texts:
            return [], 0
        fitted = [self._fit(text, truncate) for text in texts]
        vectors, tokens = self._llm.embed(fitted, truncate=True, return_count=True)
        return [list(v) for v in vectors], int(tokens)

    def _fit(self, text: str, truncate: bool) -> str:
        """`text`, or with `truncate` its longest start that fits the context with [CLS] and
        [SEP] (llama-cpp-python would cut the token list and lose the [SEP]). Found by
        bisection on characters, so the text stays as written (detokenizing would turn an
        unknown character into the letters "[UNK]"); ~1 ms per 8,000 characters a step."""
        limit = self.context_length

        def count(s: str) -> int:
            return len(self._llm.tokenize(s.encode()))

        n = count(text)
        if n <= limit:
            return text
        if not truncate:
            raise ContextOverflow.of(n, limit)
        lo, hi = 0, len(text)  # text[:lo] fits, text[:hi] does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if count(text[:mid]) <= limit else (lo, mid)
        return text[:lo]

    def close(self) -> None:
        self._llm.close()

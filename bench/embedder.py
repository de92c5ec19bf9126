"""Embedding throughput of the bundled model server with `all-minilm:l6-v2` (llama.cpp).

The documents indexer's load: `/api/embed` calls of 32 passages of ~1,000 characters each
(technical English from docs/), through the official `ollama` client, one call at a time.
passages_per_s is wall-clock; passages_per_cpu_s is per second of this process's CPU
time (llama.cpp runs in it), the figure that does not depend on what else shares the CPUs.

    .venv/bin/python bench/embedder.py [--passages 96] [--batch 32] [--threads N]

Last line: JSON with passages_per_s, passages_per_cpu_s, tokens_per_passage and the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import ollama

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local import models  # noqa: E402
from local.ollama import create_app  # noqa: E402
from local.serve import ServerThread  # noqa: E402

MODEL = "all-minilm:l6-v2"


def passages(count: int, size: int = 1000) -> list[str]:
    text = " ".join(" ".join(p.read_text().split()) for p in sorted((ROOT / "docs").glob("*.md")))
    while len(text) < count * size:
        text += " " + text
    return [text[i * size:(i + 1) * size] for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: half the CPUs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models.fetch(MODEL, tmp)
        app = create_app(tmp, num_threads=args.threads)
        with ServerThread(app) as server:
            client = ollama.Client(host=server.url, timeout=600)
            client.embed(model=MODEL, input=["warm up"])  # load the model
            texts = passages(args.passages)
            tokens = 0
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(texts), args.batch):
                tokens += client.embed(model=MODEL, input=texts[i:i + args.batch]).prompt_eval_count or 0
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "passages": len(texts), "batch": args.batch, "threads": args.threads,
        "passages_per_s": round(len(texts) / wall, 1), "passages_per_cpu_s": round(len(texts) / cpu, 1),
        "tokens_per_passage": round(tokens / len(texts)), "tokens_per_s": round(tokens / wall),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What do the providers and the local model servers cost on top of the model itself?

The same prompt, greedy decoding, on the same GGUF model (SmolLM2-135M), three ways:
  direct   llama-cpp-python in this process (LlamaEngine, the engine both servers use)
  ollama   OllamaProvider  -> HTTP/NDJSON       -> local/ollama  (a separate process)
  bedrock  BedrockProvider -> boto3/event stream -> local/bedrock (a separate process)
Runs are interleaved (direct, ollama, bedrock, direct, ...) so machine noise hits all
three alike; figures are medians. tps is the decode rate (tokens after the first, over
the time from the first token to the last); TTFT is from the call to the first token.

    .venv/bin/python bench/provider_overhead.py [--runs 5] [--max-tokens 128]

Last line: {"direct_tps", "ollama_tps", "bedrock_tps", "ollama_ratio", "bedrock_ratio",
"ttft_overhead_ms": {"ollama", "bedrock"}}; targets: ratios >= 0.9, overhead <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "omnichat")]

from local import models  # noqa: E402
from local.engines import LlamaEngine  # noqa: E402
from local.serve import free_port, start_process  # noqa: E402
from omnichat.config import Settings  # noqa: E402
from omnichat.providers.bedrock import BedrockProvider  # noqa: E402
from omnichat.providers.ollama import OllamaProvider  # noqa: E402
from omnichat.providers.types import ChatRequest, Finish, Message, TextDelta  # noqa: E402

PROMPT = "Write a short story about a robot who learns to paint. Use simple words."
OLLAMA_MODEL, BEDROCK_MODEL = "smollm2:135m", "local.smollm2-135m"






def direct_run(engine: LlamaEngine, max_tokens: int) -> tuple[float, float, int]:
    start_t = time.perf_counter()
    first = last = None
    tokens = 0
    for piece in engine.generate([{"role": "user", "content": PROMPT}], max_tokens=max_tokens, temperature=0.0):
        if piece.text:
            now = time.perf_counter()
            first = first or now
            last = now
        if piece.stop_reason:
            tokens = piece.completion_tokens
    return (first - start_t) * 1000, last - first, tokens


async def provider_run(provider, model: str, max_tokens: int) -> tuple[float, float, int]:
    request = ChatRequest(model=model, messages=(Message.text("user", PROMPT),), temperature=0.0,
                          max_tokens=max_tokens)
    start_t = time.perf_counter()
    first = last = None
    tokens = 0
    async for event in provider.stream_chat(request):
        if isinstance(event, TextDelta) and event.text:
            now = time.perf_counter()
            first = first or now
            last = now
        elif isinstance(event, Finish):
            tokens = event.usage.output_tokens
    return (first - start_t) * 1000, last - first, tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    models_dir = Path(os.environ.get("OMNICHAT_MODELS_DIR", ROOT / ".omnichat" / "models"))
    gguf = models.fetch(OLLAMA_MODEL, models_dir, ROOT / ".omnichat" / "cache").path
    env = {**os.environ, "OMNICHAT_MODELS_DIR": str(models_dir), "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'omnichat'}",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")})
    o_port, b_port = free_port(), free_port()
    servers = [
        start_process([sys.executable, "-m", "local.ollama", "--port", str(o_port), "--models-dir", str(models_dir),
               "--keep-alive", "-1", "--log-level", "warning"], o_port, env),
        start_process([sys.executable, "-m", "local.bedrock", "--port", str(b_port), "--gguf", str(gguf),
               "--log-level", "warning"], b_port, env),
    ]
    try:
        settings = Settings(ollama_host=f"http://127.0.0.1:{o_port}", bedrock_enabled=True,
                            bedrock_runtime_endpoint=f"http://127.0.0.1:{b_port}", provider_read_timeout_s=300)
        engine = LlamaEngine(gguf)
        ollama, bedrock = OllamaProvider(settings), BedrockProvider(settings)
        results: dict[str, list[tuple[float, float, int]]] = {"direct": [], "ollama": [], "bedrock": []}

        async def one_round(record: bool) -> None:
            runs = [("direct", await asyncio.to_thread(direct_run, engine, args.max_tokens)),
                    ("ollama", await provider_run(ollama, OLLAMA_MODEL, args.max_tokens)),
                    ("bedrock", await provider_run(bedrock, BEDROCK_MODEL, args.max_tokens))]
            if record:
                for name, run in runs:
                    results[name].append(run)

        async def all_rounds() -> None:
            await one_round(record=False)  # warm-up: model loads, connections, caches
            for _ in range(args.runs):
                await one_round(record=True)
            await ollama.aclose()

        asyncio.run(all_rounds())
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(10)

    def tps(runs: list[tuple[float, float, int]]) -> float:
        return statistics.median((tokens - 1) / span for _, span, tokens in runs if span > 0)

    def ttft(runs: list[tuple[float, float, int]]) -> float:
        return statistics.median(t for t, _, _ in runs)

    figures = {name: (tps(runs), ttft(runs), statistics.median(r[2] for r in runs)) for name, runs in results.items()}
    for name, (rate, first, tokens) in figures.items():
        print(f"{name:8s} decode {rate:6.1f} tokens/s  ttft {first:7.1f} ms  tokens {tokens:.0f}")
    d_tps, d_ttft = figures["direct"][0], figures["direct"][1]
    print(json.dumps({
        "direct_tps": round(d_tps, 2), "ollama_tps": round(figures["ollama"][0], 2),
        "bedrock_tps": round(figures["bedrock"][0], 2),
        "ollama_ratio": round(figures["ollama"][0] / d_tps, 3),
        "bedrock_ratio": round(figures["bedrock"][0] / d_tps, 3),
        "ttft_overhead_ms": {"ollama": round(figures["ollama"][1] - d_ttft, 1),
                             "bedrock": round(figures["bedrock"][1] - d_ttft, 1)},
    }))


if __name__ == "__main__":
    main()

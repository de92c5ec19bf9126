"""What does a fallback chain add to the time to first token?

The Bedrock emulator (its own process) throttles every call to the primary model (Claude
3 Haiku); the chain's next model (Nova Micro) answers. Three calls per round, interleaved
so machine noise hits them alike, figures are medians:
  direct   the fallback model asked directly: its time to first token
  refusal  the primary asked directly: the time until it refuses (ThrottlingException)
  chain    the primary through providers/fallback.py: the fallback answer's first token
fallback_added_ttft_ms = chain - direct - refusal: what the chain itself costs (goal <= 50).
Provider retries are off (provider_max_attempts=1): with them the refusal would include
botocore's jittered backoff, the same in both terms, and only add noise here.

    .venv/bin/python bench/gateway_fallback.py [--runs 30]

Last line: {"fallback_added_ttft_ms", "fallback_chain_ttft_ms", "fallback_direct_ttft_ms",
"fallback_refusal_ms", "fallback_runs"} (prefixed: bench/gateway_routing.py merges it with others).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "omnichat")]

from local.serve import free_port, start_process  # noqa: E402
from omnichat.config import Settings  # noqa: E402
from omnichat.providers.bedrock import BedrockProvider  # noqa: E402
from omnichat.providers.errors import Throttled  # noqa: E402
from omnichat.providers.fallback import Candidate, FallbackProvider  # noqa: E402
from omnichat.providers.types import ChatRequest, Message, TextDelta  # noqa: E402

PRIMARY, FALLBACK = "anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-micro-v1:0"
PROMPT = "Say hello [[tokens=16]]"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}


@contextmanager
def emulator() -> Iterator[str]:
    """The Bedrock emulator in its own process, throttling every call to PRIMARY."""
    port = free_port()
    env = {**os.environ, **AWS_ENV, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'omnichat'}"}
    proc = start_process([sys.executable, "-m", "local.bedrock", "--port", str(port), "--log-level", "warning"],
                         port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        fault = {"kind": "error", "code": "ThrottlingException", "times": 1_000_000, "model_id": PRIMARY}
        urllib.request.urlopen(urllib.request.Request(url + "/_emulator/faults", json.dumps(fault).encode(),
                                                      {"content-type": "application/json"}), timeout=10).close()
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def dummy_credentials() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def first_token_ms(provider: Any, model: str) -> float:
    request = ChatRequest(model=model, messages=(Message.text("user", PROMPT),), max_tokens=32)
    started = time.perf_counter()
    first = None
    async for event in provider.stream_chat(request):
        if first is None and isinstance(event, TextDelta) and event.text:
            first = (time.perf_counter() - started) * 1000
    assert first is not None, "the answer had no text"
    return first


async def refusal_ms(provider: Any) -> float:
    started = time.perf_counter()
    try:
        await first_token_ms(provider, PRIMARY)
    except Throttled:
        return (time.perf_counter() - started) * 1000
    raise AssertionError("the emulator did not throttle the primary model")


def measure(runs: int = 30) -> dict[str, Any]:
    with dummy_credentials(), emulator() as url:
        settings = Settings(bedrock_enabled=True, aws_region="us-east-1", bedrock_runtime_endpoint=url,
                            bedrock_endpoint=url, provider_max_attempts=1, provider_read_timeout_s=30)
        bedrock = BedrockProvider(settings)
        chain = FallbackProvider([Candidate("bedrock/" + PRIMARY, "bedrock", PRIMARY, bedrock),
                                  Candidate("bedrock/" + FALLBACK, "bedrock", FALLBACK, bedrock)])
        direct: list[float] = []
        refused: list[float] = []
        chained: list[float] = []

        async def rounds() -> None:
            for i in range(runs + 2):  # two warm-up rounds: connections, the engine
                d, r = await first_token_ms(bedrock, FALLBACK), await refusal_ms(bedrock)
                c = await first_token_ms(chain, PRIMARY)
                assert chain.answered is not None and chain.answered.name == FALLBACK
                if i >= 2:
                    direct.append(d)
                    refused.append(r)
                    chained.append(c)

        asyncio.run(rounds())
    d, r, c = statistics.median(direct), statistics.median(refused), statistics.median(chained)
    return {"fallback_added_ttft_ms": round(c - d - r, 2), "fallback_chain_ttft_ms": round(c, 2),
            "fallback_direct_ttft_ms": round(d, 2), "fallback_refusal_ms": round(r, 2), "fallback_runs": runs}


def main() -> None:
    logging.getLogger("omnichat").addHandler(logging.NullHandler())  # one warning per fallback: not the figures
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    result = measure(parser.parse_args().runs)
    print(f"fallback's own TTFT {result['fallback_direct_ttft_ms']} ms, primary's refusal "
          f"{result['fallback_refusal_ms']} ms, through the chain {result['fallback_chain_ttft_ms']} ms: "
          f"the chain adds {result['fallback_added_ttft_ms']} ms (goal <= 50)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

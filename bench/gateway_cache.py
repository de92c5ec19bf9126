"""Does Bedrock prompt caching pay on a conversation?

A 3-turn conversation with a 2,000-token system prompt on a caching model (Claude 3.7
Sonnet through its `us.` profile), through BedrockProvider (which places the cachePoint
blocks) against the Bedrock emulator (which caches as Bedrock does, and reads uncached
prompt tokens at its prefill rate before the first token). Repeated over `conversations`
system prompts of their own; TTFT figures are medians.

    .venv/bin/python bench/gateway_cache.py [--conversations 3]

Last line: {"cache_read_tokens", "cache_write_tokens", "reads_per_turn", "ttft_ms_per_turn",
"ttft_turn2_vs_turn1"}; goal: reads > 0 on turns 2 and 3 (so cache_read_tokens > 0), and
ttft_turn2_vs_turn1 < 1. `measure()` returns the same dict (bench/gateway_routing.py uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "layers" / "omnichat")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from local.bedrock import EmulatorServer, create_app  # noqa: E402
from omnichat.config import Settings  # noqa: E402
from omnichat.providers import collect  # noqa: E402
from omnichat.providers.bedrock import BedrockProvider  # noqa: E402
from omnichat.providers.types import ChatRequest, Finish, Message  # noqa: E402

MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
SYSTEM_TOKENS = 2000  # the emulator counts a word as a token
QUESTIONS = ("What do these notes say? [[tokens=20]]", "And in short? [[tokens=20]]", "Thanks. One more? [[tokens=20]]")


def system_prompt(seed: int) -> str:
    return " ".join(f"note{seed}x{i:04d}" for i in range(SYSTEM_TOKENS))


async def conversation(provider: BedrockProvider, seed: int) -> list[Finish]:
    history: list[Message] = []
    finishes = []
    for question in QUESTIONS:
        history.append(Message.text("user", question))
        request = ChatRequest(model=MODEL, messages=tuple(history), system=system_prompt(seed), max_tokens=64)
        answer, finish = await collect.answer(provider, request)
        assert finish is not None
        finishes.append(finish)
        history.append(Message.text("assistant", answer))
    return finishes


def measure(conversations: int = 3) -> dict[str, Any]:
    with EmulatorServer(create_app()) as server:
        settings = Settings(bedrock_enabled=True, aws_region="us-east-1", bedrock_runtime_endpoint=server.url,
                            bedrock_endpoint=server.url, provider_max_attempts=1)
        provider = BedrockProvider(settings)
        runs = [asyncio.run(conversation(provider, seed)) for seed in range(conversations)]
    turns = range(len(QUESTIONS))
    ttft = [statistics.median(run[t].ttft_ms or 0.0 for run in runs) for t in turns]
    reads = [sum(run[t].usage.cache_read_tokens for run in runs) for t in turns]
    return {
        "model": MODEL,
        "conversations": conversations,
        "system_tokens": SYSTEM_TOKENS,
        "cache_read_tokens": sum(reads),
        "cache_write_tokens": sum(run[t].usage.cache_write_tokens for run in runs for t in turns),
        "reads_per_turn": reads,
        "ttft_ms_per_turn": [round(t, 1) for t in ttft],
        "ttft_turn2_vs_turn1": round(ttft[1] / ttft[0], 3) if ttft[0] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=3)
    figures = measure(parser.parse_args().conversations)
    for turn, (read, ttft) in enumerate(zip(figures["reads_per_turn"], figures["ttft_ms_per_turn"], strict=True), 1):
        print(f"turn {turn}: cache read {read:6d} tokens  ttft {ttft:7.1f} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

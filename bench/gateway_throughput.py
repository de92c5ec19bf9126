"""What does the OpenAI-compatible gateway cost on top of reading Bedrock directly?

One long answer (5,000 tokens by default) from the Bedrock emulator's deterministic
engine at full speed (`[[tokens=N]]`, no rate limit), read two ways, interleaved:
  direct   boto3 `converse_stream` against local/bedrock
  gateway  the `openai` SDK streaming `/v1/chat/completions` from the gateway
           (functions/gateway/app.py under uvicorn, as Lambda Web Adapter runs it),
           which reads the same stream through BedrockProvider and re-encodes every
           event as an OpenAI SSE chunk
  raw      the same gateway stream read as plain SSE lines with httpx (printed for
           context: it shows how much of the SDK path's rate is the client's parsing)
Each process is its own: emulator, gateway, and this client. The gateway's CPU time is
the gateway *process's* user+system time (from /proc/<pid>/stat), read just before and
just after each gateway stream: everything the gateway spends on that stream (event
loop, the boto3 reader thread, the usage row), and nothing of the client or emulator.

The concurrent case: `--conc` streams (20) of `--conc-tokens` tokens each, all at full
speed, started together (a barrier) from as many threads, direct with boto3 and through
the gateway with the openai SDK, in alternation; its figure is the p99 (of 20: the
slowest) time to first token through the gateway over the same through boto3 in the same
round, median over `--conc-runs` rounds (after a warm-up round). LiteLLM's proxy and
bedrock-access-gateway were measured beside it once; they are not installed here, so
direct boto3 is the baseline.

    .venv/bin/python bench/gateway_throughput.py [--tokens 5000] [--runs 5] [--conc 20] [--conc-runs 5]

Figures are medians over the runs (after one warm-up of each). Last line:
{"chunks_per_s", "cpu_ms_per_1k_chunks", "ttft_overhead_ms", "conc_p99_ttft_vs_direct",
"conc_p99_ttft_ms": {"direct", "gateway"}, "conc_cpu_ms_per_1k_chunks"}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "omnichat")]

from local.serve import free_port, start_process  # noqa: E402

MODEL_ID = "amazon.nova-micro-v1:0"  # up to 10,000 output tokens
CLK_TCK = os.sysconf("SC_CLK_TCK")






def cpu_ms(pid: int) -> float:
    """user + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK_TCK


def make_key(database_url: str, settings: Any) -> str:
    from omnichat.auth import api_keys
    from omnichat.auth.principal import Principal
    from omnichat.auth.users import sign_up
    from omnichat.db import lite, migrate

    migrate.upgrade(database_url)
    with lite.transaction(database_url) as db:
        user = sign_up(db, settings, "bench@example.com", "correct horse battery", "bench")
        _, key = api_keys.create(db, Principal(user.id, user.email, user.role), "bench")
    return key


def direct_run(client: Any, prompt: str) -> dict[str, float]:
    started = time.perf_counter()
    ttft, events = None, 0
    stream = client.converse_stream(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": prompt}]}],
                                    inferenceConfig={"maxTokens": 10_000})["stream"]
    for event in stream:
        if "contentBlockDelta" in event:
            events += 1
            ttft = ttft or time.perf_counter() - started
    total = time.perf_counter() - started
    return {"ttft_ms": (ttft or 0) * 1000, "seconds": total, "chunks": events}


def gateway_run(sdk: Any, prompt: str, pid: int, settle: float = 0.05) -> dict[str, float]:
    cpu_before = cpu_ms(pid)
    started = time.perf_counter()
    ttft, chunks = None, 0
    stream = sdk.chat.completions.create(model="bedrock/" + MODEL_ID, stream=True, max_tokens=10_000,
                                         messages=[{"role": "user", "content": prompt}])
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            ttft = ttft or time.perf_counter() - started
    total = time.perf_counter() - started
    time.sleep(settle)  # let the gateway finish writing the usage row before reading its CPU
    return {"ttft_ms": (ttft or 0) * 1000, "seconds": total, "chunks": chunks, "cpu_ms": cpu_ms(pid) - cpu_before}


def raw_run(url: str, key: str, prompt: str) -> dict[str, float]:
    """The gateway's stream read as plain SSE lines with httpx: what the gateway can
    deliver when the client's own parsing (the SDK's pydantic models) is not the limit."""
    import httpx

    started = time.perf_counter()
    chunks = 0
    body = {"model": "bedrock/" + MODEL_ID, "stream": True, "max_tokens": 10_000,
            "messages": [{"role": "user", "content": prompt}]}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120,
                      headers={"authorization": f"Bearer {key}"}) as response:
        for line in response.iter_lines():
            chunks += line.startswith("data: {")
    return {"seconds": time.perf_counter() - started, "chunks": chunks}


def concurrent_ttfts(n: int, one: Callable[[int], float]) -> list[float]:
    """`one(i)` (a stream; returns its TTFT in ms) on `n` threads released together."""
    barrier, ttfts, errors = threading.Barrier(n), [0.0] * n, []

    def run(i: int) -> None:
        try:
            barrier.wait(30)
            ttfts[i] = one(i)
        except Exception as exc:  # reported below: a failed stream must not look fast
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    if errors or any(t.is_alive() for t in threads):
        raise RuntimeError(f"concurrent streams failed: {errors[:3]}")
    return ttfts


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--conc", type=int, default=20, help="concurrent streams (0: skip the case)")
    parser.add_argument("--conc-tokens", type=int, default=2000)
    parser.add_argument("--conc-runs", type=int, default=5)
    args = parser.parse_args()

    import boto3
    import openai
    from botocore.config import Config

    from omnichat.config import Settings

    home = Path(tempfile.mkdtemp(prefix="omnichat-gw-bench-"))
    database_url = f"sqlite:///{home / 'omnichat.db'}"
    secret = "bench-secret-" + "b" * 32
    key = make_key(database_url, Settings(home=home, database_url=database_url, jwt_secret=secret))

    aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    base_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'omnichat'}", **aws}
    bedrock_port, gateway_port = free_port(), free_port()
    bedrock_url = f"http://127.0.0.1:{bedrock_port}"
    emulator = start_process([sys.executable, "-m", "local.bedrock", "--port", str(bedrock_port),
                              "--log-level", "warning"], bedrock_port, base_env)
    gateway_env = {**base_env, "DATABASE_URL": database_url, "OMNICHAT_HOME": str(home), "OMNICHAT_JWT_SECRET": secret,
                   "OMNICHAT_OLLAMA_ENABLED": "false", "OMNICHAT_BEDROCK_ENABLED": "true",
                   "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_url, "AWS_ENDPOINT_URL_BEDROCK": bedrock_url}
    gateway = start_process([sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1",
                             "--port", str(gateway_port), "--log-level", "warning", "--no-access-log"],
                            gateway_port, gateway_env,
                            cwd=ROOT / "functions" / "gateway")
    try:
        os.environ.update(aws)
        client = boto3.client("bedrock-runtime", endpoint_url=bedrock_url,
                              config=Config(region_name="us-east-1", read_timeout=120, retries={"max_attempts": 0}))
        sdk = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway_port}/v1", api_key=key, max_retries=0, timeout=120)
        direct, through, raw = [], [], []
        for run in range(args.runs + 1):  # run 0 warms both paths up
            prompt = f"benchmark run {run} [[tokens={args.tokens}]]"
            d = direct_run(client, prompt)
            g = gateway_run(sdk, prompt, gateway.pid)
            r = raw_run(f"http://127.0.0.1:{gateway_port}", key, prompt)
            if run:
                direct.append(d)
                through.append(g)
                raw.append(r)
            print(f"run {run}{' (warm-up)' if not run else ''}: direct {d['chunks']} deltas in {d['seconds']:.3f} s, "
                  f"TTFT {d['ttft_ms']:.1f} ms | gateway {g['chunks']} chunks in {g['seconds']:.3f} s, "
                  f"TTFT {g['ttft_ms']:.1f} ms, gateway CPU {g['cpu_ms']:.0f} ms | raw SSE {r['seconds']:.3f} s",
                  flush=True)
        conc: list[tuple[float, float, float]] = []  # (direct p99, gateway p99, gateway CPU/1k chunks) per round
        if args.conc:
            sdks = [openai.OpenAI(base_url=f"http://127.0.0.1:{gateway_port}/v1", api_key=key, max_retries=0,
                                  timeout=120) for _ in range(args.conc)]
            clients = [boto3.client("bedrock-runtime", endpoint_url=bedrock_url, config=Config(
                region_name="us-east-1", read_timeout=120, retries={"max_attempts": 0},
                max_pool_connections=args.conc)) for _ in range(args.conc)]
            for run in range(args.conc_runs + 1):  # round 0 warms up every client's connection
                prompt = f"concurrent run {run} [[tokens={args.conc_tokens}]]"
                d_ttfts = concurrent_ttfts(args.conc, lambda i, p=prompt: direct_run(clients[i], f"{p} {i}")["ttft_ms"])
                cpu_before = cpu_ms(gateway.pid)
                g_ttfts = concurrent_ttfts(args.conc, lambda i, p=prompt: gateway_run(sdks[i], f"{p} {i}", gateway.pid,
                                                                            settle=0)["ttft_ms"])
                time.sleep(0.2)  # the last usage rows
                cpu_per_1k_conc = (cpu_ms(gateway.pid) - cpu_before) / (args.conc * args.conc_tokens) * 1000
                if run:
                    conc.append((p99(d_ttfts), p99(g_ttfts), cpu_per_1k_conc))
                print(f"concurrent round {run}{' (warm-up)' if not run else ''}: {args.conc} streams, p99 TTFT "
                      f"direct {p99(d_ttfts):.1f} ms, gateway {p99(g_ttfts):.1f} ms "
                      f"(medians {statistics.median(d_ttfts):.1f} / {statistics.median(g_ttfts):.1f} ms), "
                      f"gateway CPU {cpu_per_1k_conc:.1f} ms per 1,000 chunks", flush=True)
    finally:
        gateway.terminate()
        emulator.terminate()
        gateway.wait(10)
        emulator.wait(10)

    def median(rows: list[dict[str, float]], name: str) -> float:
        return statistics.median(r[name] for r in rows)

    direct_rate = statistics.median(r["chunks"] / r["seconds"] for r in direct)
    gateway_rate = statistics.median(r["chunks"] / r["seconds"] for r in through)
    raw_rate = statistics.median(r["chunks"] / r["seconds"] for r in raw)
    cpu_per_1k = statistics.median(r["cpu_ms"] / r["chunks"] * 1000 for r in through)
    overhead = median(through, "ttft_ms") - median(direct, "ttft_ms")
    print(f"\n{args.tokens} tokens, median of {args.runs} runs")
    print(f"direct boto3 converse_stream : {direct_rate:9.0f} deltas/s, TTFT {median(direct, 'ttft_ms'):.1f} ms")
    print(f"gateway (openai SDK, SSE)    : {gateway_rate:9.0f} chunks/s, TTFT {median(through, 'ttft_ms'):.1f} ms")
    print(f"gateway (httpx, raw SSE)     : {raw_rate:9.0f} chunks/s (the SDK's parsing is the limit above)")
    print(f"gateway process CPU          : {cpu_per_1k:9.1f} ms per 1,000 chunks")
    print(f"TTFT overhead                : {overhead:9.1f} ms")
    figures: dict[str, Any] = {"chunks_per_s": round(gateway_rate, 1), "cpu_ms_per_1k_chunks": round(cpu_per_1k, 1),
                               "ttft_overhead_ms": round(overhead, 1)}
    if conc:
        ratio = statistics.median(g / d for d, g, _ in conc)
        direct_p99, gateway_p99, conc_cpu = (statistics.median(c[k] for c in conc) for k in (0, 1, 2))
        print(f"{args.conc} concurrent streams : p99 TTFT direct {direct_p99:.1f} ms, gateway {gateway_p99:.1f} ms, "
              f"{ratio:.2f}x (median of {len(conc)} rounds' ratios); gateway CPU {conc_cpu:.1f} ms per 1,000 chunks")
        figures["conc_p99_ttft_vs_direct"] = round(ratio, 2)
        figures["conc_p99_ttft_ms"] = {"direct": round(direct_p99, 1), "gateway": round(gateway_p99, 1)}
        figures["conc_cpu_ms_per_1k_chunks"] = round(conc_cpu, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""How many chats can stream at once through the local stack? N concurrent WebSocket
clients (default 100) each sign up over REST, get a ticket, connect, and send one
`chat.send` whose answer is a 300-token reply from the deterministic test model
(`ollama/omnichat-test:latest`, `[[tokens=300]]`), streamed as `delta` frames through the
emulator's @connections. Measured per client: time to first delta (TTFT) and the largest
gap between consecutive frames of the answer.

    .venv/bin/python bench/local_load.py [--clients 100] [--tokens 300] [--rate 100]
    .venv/bin/python bench/local_load.py --url http://127.0.0.1:8080   # a stack already running
                                        # (started with OMNICHAT_SIGNUP_MAX_PER_ADDRESS above --clients)

Without --url it starts the stack itself, on free loopback ports: the Ollama-compatible
server with the deterministic model (`python -m local.ollama --deterministic`) and the
emulator (`python -m local.gateway --template template.yaml`) on a scratch SQLite database.
A client fails ("errors") on an `error` frame, a `message.done` that is not `complete`, an
answer without exactly --tokens words, a refused handshake, or no `message.done` within
--timeout seconds. Protocol: docs/websocket-protocol.md.

Last line: {"clients": ..., "errors": 0, "p99_ttft_ms": ..., "p99_gap_ms": ...};
target: zero errors at 200 clients on the 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from local.serve import free_port  # noqa: E402

MODEL = "ollama/omnichat-test:latest"


@dataclass
class Outcome:
    ttft_ms: float | None = None
    max_gap_ms: float | None = None
    frames: int = 0
    error: str = ""


@dataclass
class Client:
    index: int
    token: str
    outcome: Outcome = field(default_factory=Outcome)


# ---- the stack -------------------------------------------------------------------------



def wait_http(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout_s}s")


@contextlib.contextmanager
def local_stack(template: Path, scratch: Path | None = None) -> Iterator[str]:
    """The deterministic model server and the emulator, as child processes, with their
    SQLite database and log in `scratch` (a new temporary folder by default)."""
    python = sys.executable
    scratch = scratch or Path(tempfile.mkdtemp(prefix="omnichat-load-"))
    db_url = f"sqlite:///{scratch / 'omnichat.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMNICHAT_HOME": str(scratch)}
    subprocess.run([python, "-m", "omnichat.cli", "db", "upgrade", "--database-url", db_url],
                   cwd=REPO, env=env, check=True, capture_output=True)
    ollama_port, gateway_port = free_port(), free_port()
    logs = open(scratch / "stack.log", "wb")
    model_cmd = [python, "-m", "local.ollama", "--deterministic", "--port", str(ollama_port), "--log-level", "warning"]
    processes = [subprocess.Popen(model_cmd, cwd=REPO, env=env, stdout=logs, stderr=logs)]
    try:
        wait_http(f"http://127.0.0.1:{ollama_port}/api/version", 60, processes[0])
        processes.append(subprocess.Popen(
            [python, "-m", "local.gateway", "--template", str(template), "--port", str(gateway_port),
             "--log-level", "warning", "--env", f"DATABASE_URL={db_url}",
             "--env", f"OLLAMA_HOST=http://127.0.0.1:{ollama_port}", "--env", f"OMNICHAT_HOME={scratch}",
             "--env", "OMNICHAT_SIGNUP_MAX_PER_ADDRESS=100000"],  # every client signs up from loopback
            cwd=REPO, env=env, stdout=logs, stderr=logs))
        url = f"http://127.0.0.1:{gateway_port}"
        wait_http(f"{url}/api/health", 60, processes[1])
        print(f"stack up: {url} (model server :{ollama_port}, logs {scratch / 'stack.log'})", file=sys.stderr)
        yield url
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        logs.close()


# ---- the clients -----------------------------------------------------------------------

async def sign_up(http: httpx.AsyncClient, index: int, run_id: str, gate: asyncio.Semaphore) -> Client:
    async with gate:
        account = {"email": f"load-{run_id}-{index}@example.com", "password": "correct horse battery staple"}
        response = await http.post("/api/auth/signup", json={**account, "name": f"Load {index}"})
        response.raise_for_status()  # the same answer for a new and a taken email: sign in next
        response = await http.post("/api/auth/signin", json=account)
    response.raise_for_status()
    return Client(index=index, token=response.json()["access_token"])


async def chat(http: httpx.AsyncClient, ws_url: str, client: Client, tokens: int, rate: float,
               start: asyncio.Event, timeout_s: float) -> None:
    outcome = client.outcome
    try:
        ticket = await http.post("/api/auth/ws-ticket", headers={"authorization": f"Bearer {client.token}"})
        ticket.raise_for_status()
        async with connect(f"{ws_url}?ticket={ticket.json()['ticket']}&v=1", open_timeout=30,
                           max_size=None) as ws:
            await start.wait()
            content = f"Load test message {client.index}. [[tokens={tokens}]]" + (f" [[rate={rate:g}]]" if rate else "")
            sent = time.perf_counter()
            await ws.send(json.dumps({"action": "chat.send", "request_id": f"r{client.index}",
                                      "client_message_id": f"c-{uuid.uuid4().hex}", "content": content,
                                      "model": MODEL}))
            text, last = "", None
            async with asyncio.timeout(timeout_s):
                async for raw in ws:
                    frame = json.loads(raw)
                    kind, now = frame.get("type"), time.perf_counter()
                    if kind == "error":
                        outcome.error = f"error frame: {frame.get('code')}: {frame.get('message')}"
                        return
                    if kind in ("delta", "message.done") and last is not None:
                        gap = (now - last) * 1000
                        outcome.max_gap_ms = max(outcome.max_gap_ms or 0.0, gap)
                    if kind == "delta":
                        if outcome.ttft_ms is None:
                            outcome.ttft_ms = (now - sent) * 1000
                        if frame.get("offset", len(text)) == len(text):
                            text += frame.get("text", "")
                        outcome.frames += 1
                        last = now
                    elif kind == "message.done":
                        if frame.get("status") != "complete":
                            outcome.error = f"message.done {frame.get('status')}: {frame.get('error')}"
                        elif len(text.split()) != tokens:
                            outcome.error = f"{len(text.split())} words streamed, expected {tokens}"
                        return
            outcome.error = "the connection closed before message.done"
    except TimeoutError:
        outcome.error = f"no message.done within {timeout_s}s"
    except Exception as exc:  # noqa: BLE001 - a refused handshake, a reset connection, a REST failure
        outcome.error = f"{type(exc).__name__}: {exc}"


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)], 1)


async def load(url: str, clients: int, tokens: int, rate: float, timeout_s: float) -> dict[str, Any]:
    ws_url = url.replace("http", "ws", 1).rstrip("/") + "/ws"
    # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s):
    # a request sent on one the server is closing at that moment fails with ReadError.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        run_id, gate = uuid.uuid4().hex[:8], asyncio.Semaphore(8)
        started = time.perf_counter()
        accounts = await asyncio.gather(*(sign_up(http, i, run_id, gate) for i in range(clients)))
        print(f"{clients} accounts in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        start = asyncio.Event()
        tasks = [asyncio.create_task(chat(http, ws_url, c, tokens, rate, start, timeout_s)) for c in accounts]
        await asyncio.sleep(min(30, 1 + clients * 0.05))  # let every client connect and wait
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    outcomes = [c.outcome for c in accounts]
    failed = [o for o in outcomes if o.error]
    for message in sorted({o.error for o in failed})[:10]:
        print(f"  error x{sum(o.error == message for o in failed)}: {message}", file=sys.stderr)
    ttfts = [o.ttft_ms for o in outcomes if o.ttft_ms is not None and not o.error]
    gaps = [o.max_gap_ms for o in outcomes if o.max_gap_ms is not None and not o.error]
    frames = [o.frames for o in outcomes if not o.error]
    print(json.dumps({"elapsed_s": round(elapsed, 2),
                      "p50_ttft_ms": round(statistics.median(ttfts), 1) if ttfts else None,
                      "max_ttft_ms": round(max(ttfts), 1) if ttfts else None,
                      "mean_frames": round(statistics.mean(frames), 1) if frames else None,
                      "tokens": tokens, "rate": rate}), file=sys.stderr)
    return {"clients": clients, "errors": len(failed), "p99_ttft_ms": p99(ttfts), "p99_gap_ms": p99(gaps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="tokens/s of the deterministic model (default 0: no delay; it runs one answer at a time)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a client waits for message.done")
    parser.add_argument("--url", help="a running stack (e.g. `make local`) instead of starting one")
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    args = parser.parse_args()

    if args.url:
        result = asyncio.run(load(args.url.rstrip("/"), args.clients, args.tokens, args.rate, args.timeout))
    else:
        with local_stack(args.template) as url:
            result = asyncio.run(load(url, args.clients, args.tokens, args.rate, args.timeout))
    print(json.dumps(result), flush=True)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""How fast does the local stack start, and how much memory does it hold once idle?

Starts the stack command (default `make local`) in a process group of its own, measures the
seconds until `/` first answers 200, optionally loads the local model (one empty
`/api/generate`, as Ollama loads a model), waits until the stack is idle, then sums the
resident memory (RSS, from /proc) of every process of the tree it started. Then stops it
as Ctrl-C would (SIGINT to its process group; SIGTERM, then SIGKILL if it lingers).

    .venv/bin/python bench/local_startup.py [--cmd "make local"] [--url http://127.0.0.1:8080/]
        [--ollama http://127.0.0.1:11434 --model smollm2:135m] [--idle 5] [--timeout 180]

"With everything installed": run `make install model` (or `make local` once) first, so
the timing does not include creating the environment or downloading the model. A real
Ollama that was already running is not part of the started tree and is not counted.

Last line: {"start_s": ..., "idle_rss_mb": ...}; target: <= 2 s and <= 350 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def children_of(pid: int) -> list[int]:
    """Every descendant of `pid` (Linux /proc), found by walking parent links."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    tree, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        tree.extend(kids)
        frontier.extend(kids)
    return tree


def memory_kb(pid: int, field: str) -> int:
    """VmRSS from /proc/<pid>/status, or Pss from smaps_rollup (shared pages split)."""
    try:
        if field == "Pss":
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        else:
            text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def wait_for_200(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> float:
    started = time.perf_counter()
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the stack command exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter()
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for the whole group we started, then firmer signals for what lingers."""
    for sig, grace in ((signal.SIGINT, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            continue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmd", default="make local", help="the command that starts the whole local stack")
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="first 200 here ends the start time")
    parser.add_argument("--ollama", default="", help="model server URL; with --model, load the model before measuring")
    parser.add_argument("--model", default="smollm2:135m")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to settle before measuring memory")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()

    log_path = Path(tempfile.mkdtemp(prefix="omnichat-startup-")) / "stack.log"
    print(f"stack output: {log_path}", file=sys.stderr)
    log = open(log_path, "wb")
    began = time.perf_counter()
    process = subprocess.Popen(shlex.split(args.cmd), cwd=REPO, stdout=log, stderr=log, start_new_session=True)
    try:
        start_s = wait_for_200(args.url, process, args.timeout) - began
        print(f"first 200 on {args.url} after {start_s:.2f}s", file=sys.stderr)
        if args.ollama:
            response = httpx.post(f"{args.ollama.rstrip('/')}/api/generate", json={"model": args.model},
                                  timeout=args.timeout)
            print(f"model {args.model} loaded: HTTP {response.status_code}", file=sys.stderr)
        time.sleep(args.idle)
        pids = [process.pid, *children_of(process.pid)]
        rss_kb = sum(memory_kb(pid, "VmRSS") for pid in pids)
        pss_kb = sum(memory_kb(pid, "Pss") for pid in pids)
        print(json.dumps({"processes": len(pids), "idle_pss_mb": round(pss_kb / 1024, 1)}), file=sys.stderr)
    finally:
        stop(process)
        log.close()
    print(json.dumps({"start_s": round(start_s, 2), "idle_rss_mb": round(rss_kb / 1024, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

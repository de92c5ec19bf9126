"""CPU time per test, for finding where the suite's work goes on a shared machine (wall
times there mostly measure the neighbours). Opt-in:

    OMNICHAT_CPU_DURATIONS=/tmp/cpu.jsonl pytest -p tests.cpu_durations -n 2 ...

Each test's setup, call and teardown are charged with the user + system CPU seconds its
worker process used meanwhile (all its threads, so an in-process server's too) plus those
of the child processes it waited for (a subprocess.run, a stopped stack). A module- or
package-scoped fixture is charged to the first test that uses it. One JSON line a test,
appended by every worker; `python -m tests.cpu_durations FILE` prints the largest.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = "OMNICHAT_CPU_DURATIONS"


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    started, wall = _cpu(), time.monotonic()
    yield
    path = os.environ.get(ENV)
    if path:
        line = {"test": item.nodeid, "cpu_s": round(_cpu() - started, 3),
                "wall_s": round(time.monotonic() - wall, 3),
                "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"), "ended": round(time.time(), 1)}
        with open(path, "a") as out:
            out.write(json.dumps(line) + "\n")


def report(path: Path, most: int = 40) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    total = sum(r["cpu_s"] for r in rows)
    print(f"{len(rows)} tests, {total:.0f} CPU s charged to tests")
    by_file: dict[str, float] = {}
    for r in rows:
        by_file[r["test"].split("::")[0]] = by_file.get(r["test"].split("::")[0], 0.0) + r["cpu_s"]
    for r in sorted(rows, key=lambda r: -r["cpu_s"])[:most]:
        print(f"{r['cpu_s']:8.1f}  {r['test']}")
    for worker in sorted({r["worker"] for r in rows}):
        mine = [r for r in rows if r["worker"] == worker]
        print(f"{worker}: {len(mine)} tests, {sum(r['cpu_s'] for r in mine):.0f} CPU s, last test ended at "
              f"{max(r.get('ended', 0) for r in mine):.0f}")
    print("by file:")
    for name, cpu in sorted(by_file.items(), key=lambda kv: -kv[1])[:most]:
        print(f"{cpu:8.1f}  {name}")
    # Wall time not spent on this worker's CPU: waits (sleeps, subprocesses, a browser).
    waits: dict[str, float] = {}
    for r in rows:
        name = r["test"].split("::")[0]
        waits[name] = waits.get(name, 0.0) + r.get("wall_s", 0.0) - r["cpu_s"]
    print("waiting, by file (wall - CPU):")
    for name, waited in sorted(waits.items(), key=lambda kv: -kv[1])[:most]:
        print(f"{waited:8.1f}  {name}")


if __name__ == "__main__":
    report(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40)

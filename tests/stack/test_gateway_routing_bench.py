"""bench/gateway_routing.py runs and prints its figures as its last line (a short run: its
own three model-server processes, six chats, one round; the other gateway benches skipped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # starts three server processes


def test_the_routing_bench_prints_its_figures_on_its_last_line() -> None:
    done = subprocess.run([sys.executable, "bench/gateway_routing.py", "--chats", "6", "--rounds", "1",
                           "--only-routing"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["chats"] == 6 and figures["nodes"] == 3 and figures["spread_ratio"] > 0
    assert figures["max_node_share"] <= 3 / 6  # at best 2 per node; never most of them on one
    # The model loaded on one node: the router never makes a chat wait for a load elsewhere.
    assert figures["cold_loads"] == 0 and figures["residency_chats"] == 6

"""bench/cold_start.py measures every function in template.yaml and ends with its JSON
summary line. Figures are printed, not asserted: they depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from .conftest import ROOT


def test_cold_start_bench_covers_every_function(functions: dict[str, Any]) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "cold_start.py"), "--repeat", "1"], check=False,
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["functions"] == len(functions)
    assert set(summary["per_function"]) == set(functions)
    assert {"max_import_ms", "max_rss_mb", "per_function"} <= set(summary)
    failed = {name: f["error"] for name, f in summary["per_function"].items() if "error" in f}
    assert failed == {}, failed

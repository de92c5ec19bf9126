"""bench/cold_start.py measures every function in template.yaml and ends with its JSON
summary line. Figures are printed, not asserted: they depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from omnichat.db.migrate import HEAD

from .conftest import ROOT


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "cold_start.py"), "--repeat", "1"], check=False,
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_cold_start_bench_covers_every_function(summary: dict[str, Any], functions: dict[str, Any]) -> None:
    assert summary["functions"] == len(functions)
    assert set(summary["per_function"]) == set(functions)
    assert {"max_import_ms", "max_rss_mb", "per_function"} <= set(summary)
    failed = {name: f["error"] for name, f in summary["per_function"].items() if "error" in f}
    assert failed == {}, failed
    # Each first call did its real work: answered, streamed, refused an unknown ticket,
    # found the schema at head, or acknowledged a notification for a file deleted since.
    outcomes = {name: f["first_invocation"] for name, f in summary["per_function"].items()}
    special = {"WsAuthorizerFunction": "Deny", "MigrateFunction": HEAD, "IndexerFunction": "0 to retry"}
    assert outcomes == {name: special.get(name, 200)
                        for name in functions}


def test_no_first_call_loads_the_orm_and_only_the_rest_api_loads_fastapi(summary: dict[str, Any]) -> None:
    """Every function reads and writes through omnichat.db.lite (SQLAlchemy alone would be
    most of a cold start), and all but the REST API, which is FastAPI, check their input
    with omnichat.checks rather than Pydantic."""
    loaded = {name: f["frameworks"] for name, f in summary["per_function"].items()}
    assert loaded == {name: ["fastapi", "pydantic"] if name == "ApiFunction" else [] for name in loaded}


def test_a_first_call_to_a_bedrock_model_is_measured_apart(summary: dict[str, Any]) -> None:
    """ws_chat and the gateway again, asking a model on Bedrock (local/bedrock's emulator):
    answered, without loading boto3 (its client alone is the issue's whole yardstick)."""
    variants = {name: (v["first_invocation"], v["frameworks"]) for name, v in summary["variants"].items()}
    assert variants == {"WsChatFunction+Bedrock": (200, []), "GatewayFunction+Bedrock": (200, [])}

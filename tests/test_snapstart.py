"""Under SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start) the REST API and ws_chat
build their heavy parts in INIT, so the snapshot holds them, and open no connection and
read no secret there (a snapshot must hold neither). Each check runs in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import snapshot_restore_py
print(json.dumps({
    "adapter_built": getattr(module, "_adapter", None) is not None,
    "modules": sorted(m for m in sys.modules if m.startswith(("omnichat.", "sqlalchemy.orm", "httpx"))),
    "after_restore": [f"{f.__module__}.{f.__name__}" for f, _, _ in snapshot_restore_py.get_after_restore()],
}))
"""


def init(function: str, tmp_path: Path, snapstart: bool) -> dict:
    db = tmp_path / "omnichat.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMNICHAT_", "DATABASE_URL"))}
    env.update({"OMNICHAT_ENV": "aws", "DATABASE_URL": f"sqlite:///{db}", "AWS_REGION": "us-east-1",
                "OMNICHAT_JWT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt",
                "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "POWERTOOLS_METRICS_NAMESPACE": "OmniChat"})
    if snapstart:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions" / function / "app.py")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not db.exists(), "INIT touched the database"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", ["api", "ws_chat"])
def test_snapstart_init_builds_everything_and_connects_nowhere(function: str, tmp_path: Path) -> None:
    state = init(function, tmp_path, snapstart=True)
    assert "random.seed" in state["after_restore"]  # restored environments draw their own jitter
    if function == "api":
        assert state["adapter_built"] and "omnichat.api.app" in state["modules"]
    else:
        assert {"omnichat.ws.dispatcher", "omnichat.streaming.relay", "omnichat.providers.ollama", "httpx"} \
            <= set(state["modules"])
    assert "sqlalchemy.orm" not in state["modules"]  # both run on omnichat.db.lite


@pytest.mark.parametrize("function", ["api", "ws_chat"])
def test_without_snapstart_init_stays_light(function: str, tmp_path: Path) -> None:
    state = init(function, tmp_path, snapstart=False)
    assert not state["adapter_built"] and state["after_restore"] == []
    assert "sqlalchemy.orm" not in state["modules"]

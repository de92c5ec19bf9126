"""Model pulls: directly from the model server (local stack), or queued for the worker
beside Ollama (AWS), whose progress the WebSocket relays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from omnichat.db.engine import session_scope
from omnichat.db.lite import Db
from omnichat.db.models import ModelPull
from tests.ws.harness import of_type

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def uninstall_pulled_model(ollama):
    """The server is the session's: what a test installs must not show up in another's listings."""
    yield
    httpx.request("DELETE", ollama.url + "/api/delete", json={"model": "smollm2:135m"}, timeout=10)


def test_a_direct_pull_streams_progress_until_done(harness, alice, ollama):
    conn = harness.connect(alice)
    harness.send(conn, {"action": "model.pull", "model": "ollama/smollm2:135m"})
    frames = harness.frames(conn)
    statuses = [f["status"] for f in of_type(frames, "model.pull.progress")]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert of_type(frames, "model.pull.done")[0]["model"] == "ollama/smollm2:135m"


@pytest.mark.parametrize("model", ["ollama/../../etc", "ollama/a b", "ollama/x:", "ollama/:latest", "bedrock/x"])
def test_a_name_ollama_would_refuse_is_refused_before_anything_starts(harness, alice, model):
    conn = harness.connect(alice)
    harness.send(conn, {"action": "model.pull", "model": model, "request_id": "p"})
    frames = harness.frames(conn)
    assert [(f["type"], f.get("code"), f.get("request_id")) for f in frames] == [("error", "invalid_request", "p")]
    assert "ollama/<name:tag>" in frames[0]["message"]


def test_a_queued_pull_is_run_by_the_worker_and_relayed(harness, alice, ollama, monkeypatch, db_url, tmp_path):
    """With the queue on (as in AWS), the Lambda only writes a request; the real worker
    from ollama_service claims it, pulls from the model server and writes progress."""
    from omnichat.config import get_settings

    monkeypatch.setenv("OMNICHAT_PULL_QUEUE", "true")
    get_settings.cache_clear()
    worker = subprocess.Popen(
        [sys.executable, "-m", "omnichat_pull", "run"], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "ollama_service"), "OMNICHAT_OLLAMA_URL": ollama.url,
             "OLLAMA_MODELS": str(tmp_path / "models"), "DATABASE_URL": db_url,
             "OMNICHAT_PULL_POLL_S": "0.1", "OMNICHAT_HEARTBEAT_FILE": str(tmp_path / "hb")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = harness.connect(alice)
        harness.send(conn, {"action": "model.pull", "model": "ollama/smollm2:135m"})
        frames = harness.frames(conn)
    finally:
        worker.terminate()
        worker.wait(10)
    ack = of_type(frames, "ack")[0]
    assert ack["pull_id"] and of_type(frames, "model.pull.done")[0]["pull_id"] == ack["pull_id"]
    progress = of_type(frames, "model.pull.progress")
    assert progress[0]["status"] == "queued" and progress[-1]["status"] == "success"
    assert any(0 < f["completed"] < f["total"] for f in progress) or progress[-1]["total"] > 0
    with session_scope(db_url) as db:
        row = db.scalar(select(ModelPull))
    assert row.status == "success" and row.requested_by == alice.user_id and row.worker


def test_asking_again_attaches_to_the_active_pull(harness, alice, monkeypatch, db_url):
    from omnichat.catalog.pulls import request_pull
    from omnichat.config import get_settings

    monkeypatch.setenv("OMNICHAT_PULL_QUEUE", "true")
    get_settings.cache_clear()

    def ask(db) -> str:
        return request_pull(Db.of_session(db), "ollama/x:1b", alice.user_id).id

    with session_scope(db_url) as db:
        first = ask(db)
    with session_scope(db_url) as db:
        assert ask(db) == first
        db.get(ModelPull, first).status = "error"
    with session_scope(db_url) as db:
        assert ask(db) != first  # a finished pull can be retried

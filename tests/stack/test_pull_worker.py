"""The Ollama service's pull worker (ollama_service/omnichat_pull): pulls an admin asks
for run to the end however long they take, their progress lands in the `model_pulls`
row, failures and cancellations are reported, a dead worker's pull is finished by
another, and across workers there is one writer on the model store at a time.

Run against a scripted Ollama (fake_ollama.py) and on SQLite, plus PostgreSQL when
OMNICHAT_TEST_DATABASE_URL is set (a throwaway database), on the table the core's
migrations make (the worker writes the rows the WebSocket Lambda reads)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT
from .fake_ollama import LAYERS, FakeOllama

sys.path.insert(0, str(ROOT / "ollama_service"))

from omnichat_pull.config import Config, local_ollama_url
from omnichat_pull.health import check
from omnichat_pull.lock import StoreLock
from omnichat_pull.store import PullStore
from omnichat_pull.worker import Preloader, PullWorker

TOTAL = sum(LAYERS.values())


class Db:
    """Test-side access to the table (what the WebSocket Lambda and an admin would do)."""

    def __init__(self, url: str, dialect: str) -> None:
        self.url, self.dialect = url, dialect
        self.store = PullStore.from_url(url)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.store._execute(statement, params)[1]

    def enqueue(self, model: str, *, status: str = "queued", worker: str | None = None,
                age_s: float = 0.0) -> str:
        job_id = str(uuid.uuid4())
        ts = datetime.now(UTC) - timedelta(seconds=age_s)  # bound as the core binds it, on either database
        self.sql("INSERT INTO model_pulls (id, model, status, worker, created_at, updated_at)"
                 " VALUES (?, ?, ?, ?, ?, ?)", (job_id, model, status, worker, ts, ts))
        return job_id

    def row(self, job_id: str) -> dict[str, Any]:
        cols = ["status", "status_text", "digest", "completed", "total", "error", "worker", "started_at",
                "finished_at", "updated_at"]
        (values,) = self.sql(f"SELECT {', '.join(cols)} FROM model_pulls WHERE id = ?", (job_id,))
        return dict(zip(cols, values, strict=True))


@pytest.fixture
def db(db_url: str) -> Iterator[Db]:
    """The suite's database, migrated once and emptied for each test (tests/conftest.py):
    SQLite, and PostgreSQL when OMNICHAT_TEST_DATABASE_URL is set."""
    db = Db(db_url, "sqlite" if db_url.startswith("sqlite") else "postgresql")
    yield db
    db.store.close()


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


def config(ollama: FakeOllama, tmp_path: Path, **changes: Any) -> Config:
    base = dict(ollama_url=ollama.url, models_dir=tmp_path / "models", worker_id="worker-a", poll_s=0.05,
                stale_s=120.0, heartbeat_s=0.3, progress_interval_s=0.0,
                heartbeat_file=tmp_path / "heartbeat")
    base.update(changes)
    return Config(**base)


class Recording(PullStore):
    """The real store, remembering every progress report it made."""

    reports: list[dict[str, Any]]

    def report(self, job: Any, worker_id: str, **fields: Any) -> bool:  # type: ignore[override]
        self.reports.append(fields)
        return super().report(job, worker_id, **fields)


def recording(db: Db) -> Recording:
    store = Recording.from_url(db.url)
    store.__class__ = Recording
    store.reports = []
    return store  # type: ignore[return-value]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- the pull lifecycle ------------------------------------------------------------------
def test_a_queued_pull_runs_to_success_with_progress_in_its_row(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    job = db.enqueue("ollama/tiny:1b")
    store = recording(db)
    assert PullWorker(config(ollama, tmp_path), store).run_once() is True
    row = db.row(job)
    assert row["status"] == "success" and row["error"] is None and row["worker"] == "worker-a"
    assert row["completed"] == row["total"] == TOTAL
    assert row["started_at"] is not None and row["finished_at"] is not None
    assert ollama.pulls == ["tiny:1b"]  # the "ollama/" namespace is the platform's, not Ollama's
    done = [r["completed"] for r in store.reports if "completed" in r]
    assert done == sorted(done) and any(0 < d < TOTAL for d in done)  # a bar that only moves forward
    statuses = [r["status_text"] for r in store.reports if "status_text" in r]
    assert statuses[0] == "pulling manifest" and "verifying sha256 digest" in statuses


def test_an_empty_queue_does_nothing(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    assert PullWorker(config(ollama, tmp_path), db.store).run_once() is False
    assert ollama.pulls == []


@pytest.mark.parametrize(("model", "message"), [("missing:latest", "file does not exist"),
                                                ("boom:1b", "registry unreachable"),
                                                ("truncated:1b", "ended before it succeeded")])
def test_a_failed_pull_ends_in_error_with_the_reason(db: Db, ollama: FakeOllama, tmp_path: Path,
                                                     model: str, message: str) -> None:
    job = db.enqueue(model)
    PullWorker(config(ollama, tmp_path), db.store).run_once()
    row = db.row(job)
    assert row["status"] == "error" and message in row["error"]


def test_a_quiet_pull_keeps_its_row_alive(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    """Verifying a big blob prints nothing for minutes; the worker still heartbeats, so the
    row is never mistaken for an abandoned pull."""
    job = db.enqueue("quiet:1b")
    store = recording(db)
    PullWorker(config(ollama, tmp_path, heartbeat_s=0.3), store).run_once()
    assert db.row(job)["status"] == "success"
    assert sum(1 for r in store.reports if not r) >= 2  # field-less reports: heartbeats


def test_an_admin_cancel_stops_the_pull_in_ollama(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    job = db.enqueue("slow:1b")
    worker = PullWorker(config(ollama, tmp_path), db.store)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    admin = Db(db.url, db.dialect)
    wait_for(lambda: admin.row(job)["completed"] > 0)
    admin.sql("UPDATE model_pulls SET status = 'cancelled' WHERE id = ?", (job,))
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert admin.row(job)["status"] == "cancelled"  # the worker did not overwrite it
    wait_for(lambda: ollama.abandoned == ["slow:1b"])  # the connection was closed mid-pull
    assert not worker.lock.held


def test_a_pull_whose_worker_died_is_finished_by_another(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    job = db.enqueue("tiny:1b", status="running", worker="task-that-died", age_s=600)
    PullWorker(config(ollama, tmp_path, stale_s=60), db.store).run_once()
    row = db.row(job)
    assert row["status"] == "success" and row["worker"] == "worker-a"


def test_a_live_running_pull_is_left_to_its_worker(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    job = db.enqueue("tiny:1b", status="running", worker="busy-task", age_s=5)
    assert PullWorker(config(ollama, tmp_path, stale_s=60), db.store).run_once() is False
    assert db.row(job)["status"] == "running" and db.row(job)["worker"] == "busy-task"


def test_a_pull_is_claimed_once(db: Db) -> None:
    db.enqueue("tiny:1b")
    first, second = PullStore.from_url(db.url), PullStore.from_url(db.url)
    assert first.claim_next("a") is not None
    assert second.claim_next("b") is None


def test_two_workers_never_write_the_store_at_once(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    """Two tasks (own database connections, own lock handles on the same store): both
    queued pulls finish, one after the other."""
    jobs = [db.enqueue("slow:1b"), db.enqueue("tiny:2b")]
    workers = [PullWorker(config(ollama, tmp_path, worker_id=wid), PullStore.from_url(db.url))
               for wid in ("task-1", "task-2")]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [db.row(j)["status"] for j in jobs] == ["success", "success"]
    assert {db.row(j)["worker"] for j in jobs} == {"task-1", "task-2"}
    assert ollama.max_active == 1


def test_the_worker_waits_for_another_writer_and_says_so(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    cfg = config(ollama, tmp_path)
    other_task = StoreLock(cfg.lock_path)
    assert other_task.try_acquire()
    job = db.enqueue("tiny:1b")
    worker = PullWorker(cfg, db.store)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    admin = Db(db.url, db.dialect)
    wait_for(lambda: admin.row(job)["status_text"].startswith("waiting for another pull"))
    assert ollama.pulls == []
    other_task.release()
    thread.join(timeout=10)
    assert admin.row(job)["status"] == "success"


# -- preload, health, configuration --------------------------------------------------------
def test_preload_pulls_the_configured_models_without_a_database(ollama: FakeOllama, tmp_path: Path) -> None:
    cfg = config(ollama, tmp_path, preload=("tiny:1b", "missing:latest", "tiny:2b"))
    results = Preloader(cfg).run(threading.Event())
    assert results["tiny:1b"] == "ok" and results["tiny:2b"] == "ok"
    assert "file does not exist" in results["missing:latest"]
    assert ollama.max_active == 1 and (tmp_path / "models" / ".omnichat-pull.lock").exists()


def test_health(ollama: FakeOllama, tmp_path: Path) -> None:
    cfg = config(ollama, tmp_path, health_max_age_s=60)
    assert check(cfg)[0]  # server up, no worker heartbeat file (no worker configured)
    cfg.heartbeat_file.touch()
    assert check(cfg)[0]
    old = time.time() - 120
    os.utime(cfg.heartbeat_file, (old, old))
    ok, message = check(cfg)
    assert not ok and "has not reported" in message
    down = config(ollama, tmp_path, ollama_url="http://127.0.0.1:9")
    assert not check(down)[0]


def test_configuration_from_the_task_environment() -> None:
    cfg = Config.from_env({"OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_MODELS": "/models",
                           "OMNICHAT_PRELOAD_MODELS": "llama3.2:3b, qwen3:8b,llama3.2:3b,"})
    assert cfg.ollama_url == "http://127.0.0.1:11434"
    assert cfg.preload == ("llama3.2:3b", "qwen3:8b")
    assert str(cfg.lock_path) == "/models/.omnichat-pull.lock"
    assert local_ollama_url("http://0.0.0.0:8080") == "http://127.0.0.1:8080"
    store = PullStore.from_env({"OMNICHAT_DB_SECRET": '{"username": "omnichat", "password": "p", "host": "db"}',
                                "OMNICHAT_DB_HOST": "proxy.example", "OMNICHAT_DB_NAME": "omnichat"})
    assert store is not None and store.dialect == "postgresql"
    assert PullStore.from_env({}) is None


# -- the real process ----------------------------------------------------------------------
def test_the_companion_process_preloads_then_serves_the_queue(db: Db, ollama: FakeOllama, tmp_path: Path) -> None:
    """`python -m omnichat_pull run`, as entrypoint.sh starts it beside `ollama serve`."""
    job = db.enqueue("ollama/tiny:3b")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "ollama_service"), "OMNICHAT_OLLAMA_URL": ollama.url,
           "OLLAMA_MODELS": str(tmp_path / "models"), "OMNICHAT_PRELOAD_MODELS": "tiny:1b",
           "DATABASE_URL": db.url, "OMNICHAT_PULL_POLL_S": "0.1", "OMNICHAT_HEARTBEAT_FILE": str(tmp_path / "hb")}
    process = subprocess.Popen([sys.executable, "-m", "omnichat_pull", "run"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: db.row(job)["status"] == "success", timeout=20)
        assert ollama.pulls == ["tiny:1b", "tiny:3b"]  # preload first, then the queue
        assert (tmp_path / "hb").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    print(output)
    assert process.returncode == 0


def test_against_the_projects_ollama_compatible_server(db: Db, tmp_path: Path) -> None:
    """The same worker against a real server speaking Ollama's API: local/ollama, serving
    its built-in test model (what `make local` runs when no Ollama is installed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "local.ollama", "--deterministic", "--port", str(port),
                               "--models-dir", str(tmp_path / "local-models")], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        from omnichat_pull.ollama import wait_until_up

        assert wait_until_up(url, stop=threading.Event(), interval_s=0.1, timeout_s=30)
        ok, missing = db.enqueue("ollama/omnichat-test:latest"), db.enqueue("ollama/no-such-model:1b")
        worker = PullWorker(Config(ollama_url=url, models_dir=tmp_path / "models", worker_id="w", poll_s=0.05,
                                   heartbeat_file=tmp_path / "hb"), db.store)
        assert worker.run_once() and worker.run_once()
        assert db.row(ok)["status"] == "success"
        assert db.row(missing)["status"] == "error" and "does not exist" in db.row(missing)["error"]
    finally:
        server.terminate()
        server.wait(timeout=10)

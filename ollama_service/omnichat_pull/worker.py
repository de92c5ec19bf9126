"""Preloading and the pull worker loop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .config import Config
from .lock import StoreLock
from .ollama import OllamaError, Progress, PullCancelled, load, run_pull
from .store import PullJob, PullStore, StoreError

log = logging.getLogger("omnichat_pull")


def touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:
        log.warning("cannot write the heartbeat file %s", path)


class Preloader:
    """Makes sure the configured models are on the store. Runs without a database."""

    def __init__(self, config: Config, lock: StoreLock | None = None) -> None:
        self.config = config
        self.lock = lock or StoreLock(config.lock_path, poll_s=min(2.0, config.heartbeat_s))

    def run(self, stop: threading.Event) -> dict[str, str]:
        """Pull each model in turn, one writer on the store; {model: "ok" | error}."""
        results: dict[str, str] = {}

        def beat() -> bool:
            touch(self.config.heartbeat_file)
            return not stop.is_set()

        for model in self.config.preload:
            if stop.is_set():
                break
            if not self.lock.acquire(while_waiting=beat, stop=stop):
                break
            try:
                log.info("preloading %s", model)
                progress = run_pull(self.config.ollama_url, model,
                                    on_progress=lambda p: _log_progress(p) and beat(), on_idle=beat,
                                    progress_interval_s=30.0, idle_s=self.config.heartbeat_s)
                results[model] = "ok"
                log.info("preloaded %s (%d bytes)", model, progress.total)
            except PullCancelled:
                results[model] = "stopped"
            except (OllamaError, OSError, ValueError) as exc:
                results[model] = str(exc)
                log.error("could not preload %s: %s", model, exc)
            finally:
                self.lock.release()
        return results


def load_models(config: Config, stop: threading.Event) -> dict[str, str]:
    """Load each of `config.load` into memory, in turn; {model: "ok" | error}."""
    results: dict[str, str] = {}
    for model in config.load:
        if stop.is_set():
            break
        touch(config.heartbeat_file)
        try:
            load(config.ollama_url, model, config.load_keep_alive)
            results[model] = "ok"
            log.info("loaded %s into memory (keep_alive %s)", model, config.load_keep_alive or "the server's")
        except (OllamaError, OSError, ValueError) as exc:
            results[model] = str(exc)
            log.error("could not load %s: %s", model, exc)
    return results


def _log_progress(progress: Progress) -> bool:
    log.info("%s: %s %d/%d", progress.model, progress.status, progress.completed, progress.total)
    return True


class PullWorker:
    """Takes queued pulls from the database, one at a time, and reports their progress."""

    def __init__(self, config: Config, store: PullStore, lock: StoreLock | None = None) -> None:
        self.config = config
        self.store = store
        self.lock = lock or StoreLock(config.lock_path, poll_s=min(2.0, config.heartbeat_s))

    def serve(self, stop: threading.Event) -> None:
        log.info("pull worker %s polling every %.1fs", self.config.worker_id, self.config.poll_s)
        while not stop.is_set():
            touch(self.config.heartbeat_file)
            try:
                worked = self.run_once(stop)
            except StoreError as exc:  # database away (failover, proxy restart): retry
                log.warning("database unavailable: %s", exc)
                worked = False
            if not worked:
                stop.wait(self.config.poll_s)
        self.store.close()

    def run_once(self, stop: threading.Event | None = None) -> bool:
        """Run at most one queued pull to its end. True if there was one."""
        stop = stop or threading.Event()
        requeued = self.store.requeue_stale(self.config.stale_s)
        if requeued:
            log.warning("requeued %d pull(s) whose worker stopped reporting", requeued)
        job = self.store.claim_next(self.config.worker_id)
        if job is None:
            return False
        log.info("pull %s: %s", job.id, job.model)
        self._run(job, stop)
        return True

    def _run(self, job: PullJob, stop: threading.Event) -> None:
        wid = self.config.worker_id

        def still_mine(**fields: object) -> bool:
            touch(self.config.heartbeat_file)
            if stop.is_set():
                return False
            try:
                return self.store.report(job, wid, **fields)  # type: ignore[arg-type]
            except StoreError as exc:  # keep pulling; the next write may get through
                log.warning("pull %s: progress not saved: %s", job.id, exc)
                return True

        def waiting() -> bool:
            return still_mine(status_text="waiting for another pull on the model store")

        if not self.lock.acquire(while_waiting=waiting, stop=stop):
            return  # cancelled or taken over while waiting, or shutting down (requeued later)
        try:
            run_pull(self.config.ollama_url, job.ollama_name,
                     on_progress=lambda p: still_mine(status_text=p.status, digest=p.digest,
                                                      completed=p.completed, total=p.total),
                     on_idle=lambda: still_mine(),
                     progress_interval_s=self.config.progress_interval_s,
                     idle_s=self.config.heartbeat_s)
            self._finish(job, "success")
            log.info("pull %s: %s done", job.id, job.model)
        except PullCancelled:
            # Stopped by an admin or taken over: the row is no longer ours, leave it. On
            # shutdown it stays "running" and is requeued for another task once stale.
            log.info("pull %s: stopped", job.id)
        except (OllamaError, OSError, ValueError) as exc:
            log.error("pull %s: %s failed: %s", job.id, job.model, exc)
            self._finish(job, "error", str(exc))
        finally:
            self.lock.release()

    def _finish(self, job: PullJob, status: str, error: str | None = None) -> None:
        try:
            self.store.finish(job, self.config.worker_id, status, error)
        except StoreError as exc:
            log.error("pull %s: final status %s not saved: %s", job.id, status, exc)


def on_signal(stop: threading.Event) -> Callable[[int, object], None]:
    def handler(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    return handler

"""Hands a file to the indexer (docs/documents.md): an in-process worker locally, SQS in AWS.

- AWS (`index_queue_url` set): nothing to send. Every object written to the files bucket,
  by a presigned POST from the browser or by the REST API's own PutObject for a multipart
  upload, makes S3 notify the index queue, and the indexer function indexes the file from
  that (functions/indexer). A duplicate notification is harmless: ingest's claim makes a
  second delivery a no-op.
- Local (no queue): a daemon thread in this process (the stack's API process, the only one
  that calls `enqueue`) with a bounded queue, started by the first `enqueue` (or `start`).
  On start, and every `SWEEP_S` while idle, it sweeps: uploads past their expiry become
  failed, files left `queued` by a restart (or dropped because the queue was full) and
  files of another embedding model are indexed.
"""

from __future__ import annotations

import logging
import queue as stdlib_queue
import threading
import time
from dataclasses import dataclass, field

from omnichat.config import Settings
from omnichat.documents import ingest

log = logging.getLogger("omnichat.documents.queue")

CAPACITY = 1_000  # files waiting in memory; beyond, the next sweep finds them in the database
SWEEP_S = 60.0
RETRY_DELAYS_S = (2.0, 10.0)  # a transient failure (model server restarting) is tried again after these

_lock = threading.Lock()
_workers: dict[str, Worker] = {}  # one per database (tests run several apps in one process)


def enqueue(settings: Settings, file_id: str) -> None:
    """`file_id` has become `queued`: have it indexed (see the module's docstring)."""
    if settings.index_queue_url:
        log.debug("file %s: S3's notification to the index queue hands it to the indexer", file_id)
        return
    start(settings).put(file_id)


def start(settings: Settings, parts: ingest.Parts | None = None) -> Worker:
    """The local worker of the settings' database, started (and its first sweep begun) if
    it was not. `parts` replaces the pipeline's collaborators (tests) for a new worker."""
    url = settings.resolved_database_url
    with _lock:
        worker = _workers.get(url)
        if worker is None or not worker.alive:
            worker = _workers[url] = Worker(url, settings, parts)
            worker.start()
        return worker


def wait_idle(timeout: float) -> bool:
    """For tests: True once every local worker has nothing queued or running (or there is
    none), False if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    with _lock:
        workers = list(_workers.values())
    return all(w.wait_idle(max(0.0, deadline - time.monotonic())) for w in workers)


def stop(timeout: float = 10.0) -> None:
    """Stop the local workers (the stack's shutdown, tests); a later `enqueue` starts another."""
    with _lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop(timeout)


@dataclass
class Worker:
    db_url: str
    settings: Settings
    parts: ingest.Parts | None = None
    _queue: stdlib_queue.Queue[str | None] = field(default_factory=lambda: stdlib_queue.Queue(CAPACITY))
    _pending: set[str] = field(default_factory=set)  # queued or running, so a file is in the queue once
    _busy: int = 1  # the first sweep counts as work, so wait_idle waits for it
    _idle: threading.Condition = field(default_factory=threading.Condition)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="omnichat-indexer", daemon=True)
        self._thread.start()

    def put(self, file_id: str) -> None:
        with self._idle:
            if file_id in self._pending:
                return
            try:
                self._queue.put_nowait(file_id)
            except stdlib_queue.Full:
                log.warning("index queue full: file %s waits for the next sweep", file_id)
                return
            self._pending.add(file_id)

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending and self._busy == 0, timeout)

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        try:
            self._queue.put_nowait(None)
        except stdlib_queue.Full:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -------------------------------------------------------------------- the thread
    def _run(self) -> None:
        self._sweep()
        while not self._stopping.is_set():
            try:
                file_id = self._queue.get(timeout=SWEEP_S)
            except stdlib_queue.Empty:
                with self._idle:
                    self._busy += 1
                self._sweep()
                continue
            if file_id is None:
                break
            try:
                self._index(file_id)
            finally:
                with self._idle:
                    self._pending.discard(file_id)
                    self._idle.notify_all()

    def _sweep(self) -> None:
        try:
            storage = self.parts.storage if self.parts else None
            if storage is None:
                from omnichat.documents.storage import storage_for

                storage = storage_for(self.settings)
            ingest.expire_uploads(self.db_url, storage=storage)
            for file_id in ingest.reindex_stale(self.db_url, self.settings) + ingest.waiting(self.db_url):
                self.put(file_id)
        except Exception:  # noqa: BLE001 - the next sweep tries again; the worker lives on
            log.exception("index worker: sweep failed")
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _index(self, file_id: str) -> None:
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
            try:
                outcome = ingest.index_file(self.db_url, self.settings, file_id, final_attempt=delay is None,
                                            parts=self.parts)
                log.info("file %s: %s", file_id, outcome)
                return
            except ingest.Transient as exc:
                log.info("file %s: attempt %d failed (%s), again in %.0f s", file_id, attempt + 1, exc, delay or 0)
                if self._stopping.wait(delay or 0):
                    return
            except Exception:  # noqa: BLE001 - the database itself failed: the next sweep finds the file
                log.exception("file %s: indexing raised", file_id)
                return

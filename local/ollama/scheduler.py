"""Loaded models and their request queues.

Each loaded model gets one `Runner`: worker threads that share the engine and take jobs
from one queue. llama.cpp is not thread-safe, so a llama model has one worker and runs its
jobs one at a time; an engine that is (`max_parallel` > 1, the deterministic test model)
gets up to that many workers, capped by OLLAMA_NUM_PARALLEL. A model holds at most
`max_queue` + 1 requests, running or waiting, whatever its parallelism (the same bound as
with one worker); more are refused at once (`QueueFull`, HTTP 503) rather than piling up.
Models load lazily on their first job and unload when their keep-alive runs out, when
deleted, or when another model needs the slot (least recently used idle model first).

Threading rule: everything except `Runner._work` runs on the event loop thread, so the
bookkeeping (`pending`, `expires_at`, the workers list, the runner table) needs no locks;
the workers report back with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from local.engines import BadInput, ChatTurn, Engine, Piece

from .catalog import ServedModel
from .schemas import BadRequest

log = logging.getLogger("local.ollama")

FOREVER: float | None = None  # keep-alive of a model that never unloads


class QueueFull(Exception):
    pass


class _Done:
    """End-of-job marker put on a job's event queue after its last piece or error."""


DONE = _Done()


@dataclass(frozen=True)
class Embedded:
    """The result of an embedding job: the engine's raw vectors, in input order."""

    vectors: list[list[float]]
    prompt_tokens: int


Event = Piece | Embedded | BaseException | _Done


@dataclass
class Job:
    """One generation request, an embedding request (`texts`), or a load-only request
    (neither). `options` are the keyword arguments of the engine's method."""

    messages: Sequence[ChatTurn] | None
    options: dict[str, Any]
    keep_alive: float | None  # seconds; None = forever
    loop: asyncio.AbstractEventLoop
    texts: Sequence[str] | None = None
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    # Timings (time.perf_counter_ns), filled in by the worker.
    queued_ns: int = field(default_factory=time.perf_counter_ns)
    load_ns: int = 0
    started_ns: int = 0
    first_ns: int = 0
    ended_ns: int = 0

    def post(self, item: Event) -> None:
        """Hand an event to the request's coroutine (called from the worker thread)."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:  # the loop is gone (server shutting down): nobody listens
            self.cancelled.set()

    def cancel(self) -> None:
        """The client went away: stop generating at the next piece."""
        self.cancelled.set()


class Runner:
    def __init__(self, model: ServedModel, max_queue: int, on_done: Any, num_parallel: int | None = None) -> None:
        self.model = model
        self.max_queue = max_queue
        self.num_parallel = num_parallel  # the server's cap; None = what the engine allows
        self.engine: Engine | None = None  # set and cleared by the workers
        self.pending = 0  # jobs accepted and not finished (loop thread only)
        self.expires_at: float | None = time.time()  # wall clock; None = never
        self.last_used = time.monotonic()
        self._on_done = on_done
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._live = 0  # workers not yet finished; the last one out unloads
        self._live_lock = threading.Lock()
        self._add_worker()  # the one that loads the engine

    @property
    def loaded(self) -> bool:
        return self.engine is not None

    @property
    def parallel(self) -> int:
        """Jobs run at once: one until the engine has loaded and said how many it takes."""
        engine = self.engine
        allowed = max(1, int(getattr(engine, "max_parallel", 1))) if engine is not None else 1
        return allowed if self.num_parallel is None else max(1, min(allowed, self.num_parallel))

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._workers)

    def submit(self, job: Job) -> None:
        # Admission does not depend on parallelism: the bound is on memory and waiting
        # time, and stays what it was before the engine (and its parallelism) was known.
        if self.pending >= self.max_queue + 1:
            raise QueueFull("server busy, please try again.  maximum pending requests exceeded")
        self.pending += 1
        self.last_used = time.monotonic()
        self._jobs.put(job)
        self._grow()

    def stop(self) -> None:
        """Unload after the jobs already queued have run."""
        self._stopping = True
        for _ in self._workers:  # one end marker per worker
            self._jobs.put(None)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _grow(self) -> None:
        """Start workers until each pending job has one, up to `parallel`. Idle workers
        stay until the model unloads: they cost a blocked thread each."""
        while not self._stopping and len(self._workers) < min(self.parallel, self.pending):
            self._add_worker()

    def _add_worker(self) -> None:
        with self._live_lock:
            self._live += 1
        name = f"ollama-runner[{self.model.name}]#{len(self._workers)}"
        thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._workers.append(thread)
        thread.start()

    # ---- worker threads ------------------------------------------------------------
    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                self._serve(job)
        finally:
            with self._live_lock:
                self._live -= 1
                last = self._live == 0
            if last:
                self._unload()

    def _serve(self, job: Job) -> None:
        try:
            if not job.cancelled.is_set():
                self._run(job)
        except (BadInput, BadRequest) as exc:  # the client's mistake: no traceback
            job.post(exc)
        except BaseException as exc:  # reported to the client; the runner lives on
            log.exception("model %s failed", self.model.name)
            job.post(exc)
        finally:
            job.post(DONE)
            try:
                job.loop.call_soon_threadsafe(self._on_done, self, job)
            except RuntimeError:
                pass

    def _run(self, job: Job) -> None:
        if self.engine is None:  # only the first worker exists until the engine has loaded
            start = time.perf_counter_ns()
            self.engine = self.model.load()
            job.load_ns = time.perf_counter_ns() - start
            log.info("loaded %s in %.2fs", self.model.name, job.load_ns / 1e9)
            try:  # jobs queued meanwhile need not wait for this one to end
                job.loop.call_soon_threadsafe(self._grow)
            except RuntimeError:
                pass
        job.started_ns = time.perf_counter_ns()
        if job.texts is not None:
            self._embed(job)
            return
        if job.messages is None:  # load-only request
            job.ended_ns = job.started_ns
            return
        pieces = self.engine.generate(job.messages, **job.options)
        try:
            for piece in pieces:
                if job.cancelled.is_set():
                    return
                now = time.perf_counter_ns()
                job.first_ns = job.first_ns or now
                if piece.stop_reason is not None:
                    job.ended_ns = now
                job.post(piece)
        finally:
            pieces.close()  # type: ignore[attr-defined]

    def _embed(self, job: Job) -> None:
        assert job.texts is not None
        embed = getattr(self.engine, "embed", None)
        if embed is None:
            raise BadRequest(f'"{self.model.name}" does not support embeddings')
        vectors, tokens = embed(job.texts, **job.options)
        job.ended_ns = time.perf_counter_ns()
        job.post(Embedded(vectors, tokens))

    def _unload(self) -> None:
        engine, self.engine = self.engine, None
        close = getattr(engine, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("closing %s failed", self.model.name)
        if engine is not None:
            log.info("unloaded %s", self.model.name)


class Scheduler:
    """The runner table: submit jobs, apply keep-alive, list what is loaded."""

    def __init__(self, *, max_queue: int = 512, max_loaded: int = 3, num_parallel: int | None = None) -> None:
        self.max_queue = max_queue
        self.max_loaded = max_loaded
        self.num_parallel = num_parallel
        self.runners: dict[str, Runner] = {}
        self._retired: list[Runner] = []

    def submit(self, model: ServedModel, job: Job) -> Runner:
        runner = self.runners.get(model.name)
        if runner is None or runner.model.digest != model.digest:
            if runner is not None:  # the file was replaced (re-pulled): start afresh
                self.unload(model.name)
            self._make_room()
            runner = Runner(model, self.max_queue, self._job_done, self.num_parallel)
            self.runners[model.name] = runner
        runner.submit(job)
        runner.expires_at = self._expiry(job.keep_alive)
        return runner

    def unload(self, name: str) -> bool:
        runner = self.runners.pop(name, None)
        if runner is None:
            return False
        runner.stop()
        self._retired.append(runner)
        return True

    def loaded(self) -> list[Runner]:
        return [r for r in self.runners.values() if r.loaded]

    def reap(self) -> None:
        """Unload idle models whose keep-alive has run out."""
        now = time.time()
        for name, runner in list(self.runners.items()):
            if runner.pending == 0 and runner.expires_at is not None and runner.expires_at <= now:
                self.unload(name)
        self._retired = [r for r in self._retired if r.alive]

    async def reap_forever(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            self.reap()

    def shutdown(self, timeout: float = 5.0) -> None:
        for name in list(self.runners):
            self.unload(name)
        deadline = time.monotonic() + timeout
        for runner in self._retired:
            runner.join(max(0.0, deadline - time.monotonic()))

    def _job_done(self, runner: Runner, job: Job) -> None:
        runner.pending -= 1
        runner.last_used = time.monotonic()
        runner.expires_at = self._expiry(job.keep_alive)
        if job.keep_alive == 0 and runner.pending == 0 and self.runners.get(runner.model.name) is runner:
            self.unload(runner.model.name)

    def _make_room(self) -> None:
        if len(self.runners) < self.max_loaded:
            return
        idle = [r for r in self.runners.values() if r.pending == 0]
        if idle:  # if every model is busy, load beyond the limit rather than stall
            self.unload(min(idle, key=lambda r: r.last_used).model.name)

    @staticmethod
    def _expiry(keep_alive: float | None) -> float | None:
        return FOREVER if keep_alive is None else time.time() + keep_alive

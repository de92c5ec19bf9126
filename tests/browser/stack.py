"""The local stack for the browser tests, started the way a developer starts it: the
deterministic Ollama-compatible server (`python -m local.ollama --deterministic`) and the
API Gateway emulator (`python -m local.gateway`, hashing passwords at the tests' cost)
serving the built page from frontend/dist, each a subprocess on a free loopback port with
a throwaway OMNICHAT_HOME."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
DIST = FRONTEND / "dist"
SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json", "vite.config.js")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        path = FRONTEND / name
        files = [path] if path.is_file() else list(path.rglob("*")) if path.is_dir() else []
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def build_frontend(force: bool = False) -> Path:
    """`npm ci` when node_modules is missing or stale, then `npm run build` when dist is
    missing or older than a source file."""
    index = DIST / "index.html"
    if not force and index.is_file() and index.stat().st_mtime >= _newest_source_mtime():
        return DIST
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: the browser tests build frontend/ with Node 20+ and npm")
    stamp = FRONTEND / "node_modules" / ".package-lock.json"
    if not stamp.is_file() or stamp.stat().st_mtime < (FRONTEND / "package-lock.json").stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)
    return DIST


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s}s:\n{log.read_text()[-3000:]}")


@dataclass
class Stack:
    home: Path
    url: str = ""
    ollama_url: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)

    # ---- REST helpers for test setup (the browser does the things under test) ---------------
    def api(self, method: str, path: str, body: Any = None, token: str | None = None, timeout: float = 120) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if body is not None:
            req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read().decode()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return [json.loads(line) for line in raw.splitlines() if line.strip()]  # NDJSON

    def sign_up(self, email: str, password: str, name: str = "") -> dict:
        """A new account's session: sign-up answers the same for a new and a taken email, so sign in next."""
        self.api("POST", "/api/auth/signup", {"email": email, "password": password, "name": name})
        return self.sign_in(email, password)

    def sign_in(self, email: str, password: str) -> dict:
        return self.api("POST", "/api/auth/signin", {"email": email, "password": password})

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def start_stack(home: Path, *, models_dir: Path | None = None, ollama_url: str | None = None,
                cache_dir: Path | None = None, settings: dict[str, str] | None = None) -> Stack:
    """Migrate a fresh SQLite database, then start Ollama (unless `ollama_url` is given) and
    the gateway. The caller stops it with `stack.stop()`."""
    home.mkdir(parents=True, exist_ok=True)
    stack = Stack(home=home)
    db_url = f"sqlite:///{home / 'omnichat.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNICHAT_", "OLLAMA_", "DATABASE_URL"))}
    env.update({
        "OMNICHAT_HOME": str(home),
        "OMNICHAT_MODELS_DIR": str(models_dir or home / "models"),
        "OMNICHAT_CACHE_DIR": str(cache_dir or ROOT / ".omnichat" / "cache"),
        # Every test's accounts sign up from loopback, more than a real address's hourly
        # allowance; the throttle itself is tested in tests/test_signup_abuse.py.
        "OMNICHAT_SIGNUP_MAX_PER_ADDRESS": "10000",
        "PYTHONUNBUFFERED": "1",
    })
    python = sys.executable
    subprocess.run([python, "-m", "omnichat.cli", "db", "upgrade", "--database-url", db_url], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    try:
        if ollama_url is None:
            port = free_port()
            log = home / "ollama.log"
            proc = subprocess.Popen([python, "-m", "local.ollama", "--deterministic", "--port", str(port),
                                     "--log-level", "warning"], cwd=ROOT, env=env, stdout=log.open("w"),
                                    stderr=subprocess.STDOUT)
            stack.procs.append(proc)
            ollama_url = f"http://127.0.0.1:{port}"
            _wait_http(ollama_url + "/api/version", proc, log)
        stack.ollama_url = ollama_url
        port = free_port()
        log = home / "gateway.log"
        overrides = {
            "DATABASE_URL": db_url, "OMNICHAT_HOME": str(home), "OLLAMA_HOST": ollama_url,
            "OMNICHAT_JWT_SECRET": "browser-tests-" + "s" * 40, "OMNICHAT_MODEL_LIST_TTL": "0",
            "OMNICHAT_BEDROCK_ENABLED": "false",  # local mode: no AWS to reach
            # Documents are embedded by the deterministic test model (instant, no weights to fetch).
            "OMNICHAT_EMBED_MODEL": "ollama/omnichat-test:latest",
            **(settings or {}),  # a test's own server settings (e.g. single sign-on)
        }
        # Under tests/password_cost.py: the tests make about a hundred accounts, and argon2
        # at production's cost is ~0.16 s of CPU a hash or check.
        cmd = [python, "-m", "tests.password_cost", "local.gateway", "--template", str(ROOT / "template.yaml"),
               "--port", str(port), "--static", str(DIST), "--log-level", "warning"]
        for key, value in overrides.items():
            cmd += ["--env", f"{key}={value}"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        stack.procs.append(proc)
        stack.url = f"http://127.0.0.1:{port}"
        _wait_http(stack.url + "/api/health", proc, log)
    except BaseException:
        stack.stop()
        raise
    return stack

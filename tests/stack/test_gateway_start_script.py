"""functions/gateway/run.sh, the Lambda Web Adapter start script, run as the adapter runs
it: from the task root, with the layer's /opt/python on the path, serving on $PORT until
the adapter's readiness check gets an answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT

SCRIPT = ROOT / "functions" / "gateway" / "run.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(task_root: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {**os.environ, "LAMBDA_TASK_ROOT": str(task_root), "PORT": str(port), "LOG_LEVEL": "WARNING",
           # `python` must be an interpreter with uvicorn: the runtime's, here this venv's.
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", **extra_env}
    process = subprocess.Popen([str(SCRIPT)], cwd="/", env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    return process, f"http://127.0.0.1:{port}"


def ready(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> float:
    """Poll like the adapter's readiness check: any HTTP answer below 500 counts."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(url + "/", timeout=1).status_code < 500:
                return time.monotonic() - started
        except httpx.HTTPError:
            time.sleep(0.05)
    pytest.fail("the app never answered")


@pytest.fixture
def stop_after() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for p in processes:
        p.terminate()
        p.wait(timeout=10)


def test_run_sh_serves_the_app_of_the_task_root_with_the_layer_on_the_path(tmp_path: Path,
                                                                             stop_after: list) -> None:
    (tmp_path / "app.py").write_text(
        "import json, sys\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    body = json.dumps({'path': scope['path'], 'sys_path': sys.path}).encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200,\n"
        "                'headers': [(b'content-type', b'application/json')]})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n")
    process, url = start(tmp_path, {})
    stop_after.append(process)
    ready(url, process)
    answer = httpx.get(url + "/v1/models").json()
    assert answer["path"] == "/v1/models"
    assert "/opt/python" in answer["sys_path"] and str(tmp_path) in answer["sys_path"]
    assert url.startswith("http://127.0.0.1:")  # bound to loopback only


def test_run_sh_serves_the_real_gateway(tmp_path: Path, stop_after: list) -> None:
    """The real functions/gateway app behind the real start script (the omnichat layer
    comes from layers/omnichat here instead of /opt/python)."""
    process, url = start(ROOT / "functions" / "gateway", {
        "PYTHONPATH": str(ROOT / "layers" / "omnichat"), "OMNICHAT_HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'omnichat.db'}", "OMNICHAT_JWT_SECRET": "x" * 48,
        "OLLAMA_HOST": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1"})
    stop_after.append(process)
    seconds = ready(url, process)
    print(f"gateway ready after {seconds * 1000:.0f} ms (the adapter waits this long on a cold start)")
    assert httpx.get(url + "/v1/models").status_code == 401  # the app's own API-key check

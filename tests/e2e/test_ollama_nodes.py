"""`python -m local.stack` with several bundled model servers (OMNICHAT_OLLAMA_NODES=3):
real clients over loopback, the router between the handlers and the nodes."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from local.serve import free_port
from tests.e2e.conftest import ROOT, launch, shut_down

MODEL = "ollama/omnichat-test:latest"


def test_three_bundled_nodes_serve_the_v1_api_and_the_admin_sees_them(tmp_path):
    stack = launch(tmp_path / "home", free_port(), {"OMNICHAT_OLLAMA_NODES": "3"})
    try:
        token = stack.sign_up("admin@example.com")["access_token"]  # the first account is the admin
        auth = {"authorization": f"Bearer {token}"}
        key = httpx.post(f"{stack.url}/api/keys", json={"name": "nodes"}, headers=auth, timeout=30).json()["key"]
        client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key)

        def ask(i: int) -> str:
            stream = client.chat.completions.create(model=MODEL, stream=True, messages=[
                {"role": "user", "content": f"question {i} [[tokens=30]] [[rate=200]]"}])
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(ask, range(6)))
        assert all(len(a.split()) == 30 for a in answers)
        view = httpx.get(f"{stack.url}/api/admin/ollama/nodes", headers=auth, timeout=30).json()
        assert view["routed"] is True and len(view["nodes"]) == 3
        assert all(n["healthy"] and n["in_flight"] == 0 for n in view["nodes"])
        assert sum(len(n["loaded"]) for n in view["nodes"]) >= 1
    finally:
        shut_down(stack)


def test_a_node_url_that_is_not_http_stops_the_stack_with_its_name(tmp_path):
    env = {**os.environ, "OMNICHAT_HOME": str(tmp_path), "OLLAMA_HOSTS": "http://127.0.0.1:9,ftp://models:21"}
    done = subprocess.run([sys.executable, "-m", "local.stack", "--port", str(free_port()), "--no-build"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "error: OLLAMA_HOSTS: 'ftp://models:21' is not an http(s) URL" in done.stderr

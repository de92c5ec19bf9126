"""An Ollama-compatible model server for the local stack, on llama.cpp.

`python -m local.ollama --host 127.0.0.1 --port 11434 --models-dir DIR`, or in-process:
`create_app(models_dir)` is a plain ASGI app for uvicorn. See server.py for the routes,
scheduler.py for how requests queue on models, ../models.py for the models directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Starlette:
    from .server import create_app as factory  # lazy: importing the package stays cheap

    return factory(*args, **kwargs)

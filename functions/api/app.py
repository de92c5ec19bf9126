"""Lambda "api": the REST API (FastAPI) behind the HTTP API, through Mangum.

The app is built on the first invocation, not at import, so a cold start pays only for
the imports; the app (engine, secret) is then reused by every warm invocation."""

from __future__ import annotations

from typing import Any

_adapter: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _adapter
    if _adapter is None:
        from mangum import Mangum

        from omnichat.api.app import create_app

        _adapter = Mangum(create_app(), lifespan="off")
    return _adapter(event, context)

"""Lambda "gateway": the OpenAI-compatible API (`/v1/...`).

Two ways in, one app:
- `app`, an ASGI app for Lambda Web Adapter (`uvicorn app:app`, see run.sh) with
  `RESPONSE_STREAM`, so chat completions stream token by token, past API Gateway's
  29-second limit; the local emulator calls it directly too.
- `handler`, for plain (buffered) HTTP API invocations, through Mangum.

Importing this module imports nothing heavy and calls nothing: the app is built
on first use (the first request or event), then reused while warm.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_app: Any = None
_adapter: Any = None


def _get_app() -> Any:
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                from omnichat.openai_compat.app import create_app

                _app = create_app()
    return _app


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI entry point, building the real app on the first call."""
    await _get_app()(scope, receive, send)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _adapter
    if _adapter is None:
        from mangum import Mangum

        _adapter = Mangum(_get_app(), lifespan="off")
    return _adapter(event, context)

"""Lambda Web Adapter functions: in AWS, the adapter starts the function's web app and
proxies each request to it over HTTP, streaming the response. Locally the emulator calls
the ASGI `app` of the function's app.py directly, after running its lifespan startup once
(as the app's server would when the adapter starts it)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from .functions import Invoker

log = logging.getLogger("local.gateway")
ASGIApp = Any  # an ASGI 3 application


class _Lifespan:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.supported = True

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        try:
            await self.app(scope, self.inbox.get, self.outbox.put)
        except Exception:  # noqa: BLE001 - an app without lifespan support raises on the scope type
            self.supported = False
        finally:
            await self.outbox.put({"type": "lifespan.ended"})

    async def startup(self) -> None:
        self.task = asyncio.create_task(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        reply = await self.outbox.get()
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the web app's startup failed: {reply.get('message', '')}")

    async def shutdown(self) -> None:
        if self.task is None or self.task.done() or not self.supported:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self.outbox.get(), 5)
        except TimeoutError:
            self.task.cancel()


class WebApps:
    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker
        self.apps: dict[str, ASGIApp] = {}
        self.lifespans: list[_Lifespan] = []
        self._lock = asyncio.Lock()

    async def get(self, function_id: str) -> ASGIApp:
        if function_id in self.apps:
            return self.apps[function_id]
        async with self._lock:
            if function_id not in self.apps:
                runtime = self.invoker.runtime(function_id)
                app = await asyncio.get_running_loop().run_in_executor(self.invoker.executor, runtime.handler)
                lifespan = _Lifespan(app)
                await lifespan.startup()
                self.lifespans.append(lifespan)
                self.apps[function_id] = app
        return self.apps[function_id]

    async def shutdown(self) -> None:
        for lifespan in self.lifespans:
            await lifespan.shutdown()


def adapter_scope(scope: dict[str, Any], request_context: dict[str, Any]) -> dict[str, Any]:
    """The request as the adapter forwards it: same method, path and headers, plus the
    API Gateway request context in `x-amzn-request-context`."""
    headers = [h for h in scope.get("headers", []) if h[0] != b"x-amzn-request-context"]
    headers.append((b"x-amzn-request-context", json.dumps(request_context).encode()))
    return {**scope, "headers": headers}

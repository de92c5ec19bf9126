"""The Ollama-compatible HTTP server: the app factory, the model-management routes, and
error rendering. Generation lives in generation.py, embeddings in embedding.py, model
loading in scheduler.py.

Every error is `{"error": "..."}` with Ollama's status: 400 bad request, 404 unknown model,
503 queue full, 500 anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from local import models
from local.engines import BadInput, ContextOverflow
from local.models import InvalidModelName, ModelStore, normalize_name

from . import embedding, generation
from .catalog import Catalog, LlamaSettings, show
from .config import ServerConfig
from .created import CreateBody, checked_parameters, refuse_unsupported
from .scheduler import DONE, QueueFull, Scheduler
from .schemas import BadRequest, ModelBody, PullBody, ndjson, parse, rfc3339
from .state import ModelNotFound, ServerState
from .testmodel import deterministic_model

log = logging.getLogger("local.ollama")
Endpoint = Callable[[Request], Awaitable[Response]]

# The Ollama release whose API this server follows (clients gate features on it).
OLLAMA_VERSION = "0.12.0"


def create_app(
    models_dir: Path | str | None = None,
    *,
    deterministic: bool | None = None,
    config: ServerConfig | None = None,
    **overrides: Any,
) -> Starlette:
    """The ASGI app. Settings come from `config` (default: the environment), then from
    `models_dir`, `deterministic` and any other `ServerConfig` field given here."""
    cfg = config or ServerConfig.from_env()
    if models_dir is not None:
        overrides["models_dir"] = Path(models_dir)
    if deterministic is not None:
        overrides["deterministic"] = deterministic
    cfg = replace(cfg, **overrides)
    builtins = (deterministic_model(tokens_per_second=cfg.deterministic_rate, context_length=cfg.deterministic_context,
                                    load_s=cfg.deterministic_load_s),) if cfg.deterministic else ()
    state = ServerState(
        config=cfg,
        catalog=Catalog(ModelStore(cfg.models_dir), LlamaSettings(cfg.num_ctx, cfg.num_threads), builtins),
        scheduler=Scheduler(max_queue=cfg.max_queue, max_loaded=cfg.max_loaded, num_parallel=cfg.num_parallel),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        reaper = asyncio.create_task(state.scheduler.reap_forever())
        try:
            yield
        finally:
            reaper.cancel()
            state.scheduler.shutdown()

    app = Starlette(
        routes=[
            Route("/", root, methods=["GET", "HEAD"]),
            Route("/api/version", version, methods=["GET", "HEAD"]),
            Route("/api/tags", _guard(tags), methods=["GET", "HEAD"]),
            Route("/api/show", _guard(show_model), methods=["POST"]),
            Route("/api/ps", _guard(ps), methods=["GET"]),
            Route("/api/chat", _guard(generation.chat), methods=["POST"]),
            Route("/api/generate", _guard(generation.generate), methods=["POST"]),
            Route("/api/embed", _guard(embedding.embed), methods=["POST"]),
            Route("/api/embeddings", _guard(embedding.embeddings), methods=["POST"]),
            Route("/api/pull", _guard(pull), methods=["POST"]),
            Route("/api/create", _guard(create), methods=["POST"]),
            Route("/api/delete", _guard(delete), methods=["DELETE"]),
        ],
        exception_handlers={HTTPException: _http_error},  # unknown paths, wrong methods
        lifespan=lifespan,
    )
    app.state.ollama = state
    return app


# ---- errors ------------------------------------------------------------------------------
_STATUS: dict[type[Exception], int] = {
    BadRequest: 400,
    InvalidModelName: 400,
    BadInput: 400,  # and ContextOverflow
    ModelNotFound: 404,
    QueueFull: 503,
}


def _guard(endpoint: Endpoint) -> Endpoint:
    """Turn any exception into `{"error"}` with its status. Done here rather than with
    Starlette's catch-all handler, which re-raises and makes uvicorn drop the connection."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            return error_response(request, exc)

    return guarded


def error_response(request: Request, exc: Exception) -> Response:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ContextOverflow):  # Ollama's wording, then llama.cpp's numbers
        message = f"the input length exceeds the context length: {exc}"
    if status == 500:  # a 503 is load shedding, working as intended
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
    return JSONResponse({"error": message}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


def _state(request: Request) -> ServerState:
    return request.app.state.ollama  # type: ignore[no-any-return]


# ---- routes ------------------------------------------------------------------------------
async def root(request: Request) -> Response:
    return PlainTextResponse("Ollama is running")


async def version(request: Request) -> Response:
    return JSONResponse({"version": OLLAMA_VERSION})


async def tags(request: Request) -> Response:
    served = await asyncio.to_thread(_state(request).catalog.list)  # reads the disk
    return JSONResponse({"models": [m.tag_entry() for m in served]})


async def show_model(request: Request) -> Response:
    body: ModelBody = parse(await request.body(), ModelBody)
    model = _state(request).catalog.get(body.model_name)
    if model is None:
        raise ModelNotFound(body.model_name)
    return JSONResponse(await asyncio.to_thread(show, model))


async def ps(request: Request) -> Response:
    entries = []
    for runner in _state(request).scheduler.loaded():
        model = runner.model
        entry = model.tag_entry()
        del entry["modified_at"]
        expires = runner.expires_at
        entry |= {
            # A model kept forever shows a date far in the future, as in Ollama.
            "expires_at": rfc3339(expires) if expires is not None else "2318-08-01T00:00:00Z",
            "size_vram": 0,  # llama.cpp runs on the CPU here
            "context_length": model.context_length,
        }
        entries.append(entry)
    return JSONResponse({"models": entries})


async def delete(request: Request) -> Response:
    state = _state(request)
    body: ModelBody = parse(await request.body(), ModelBody)
    model = state.catalog.get(body.model_name)
    if model is None:
        raise ModelNotFound(body.model_name)
    if model.builtin:
        raise BadRequest(f"model '{model.name}' is built in and cannot be deleted")
    state.scheduler.unload(model.name)
    if not await asyncio.to_thread(state.catalog.delete, model.name):
        raise ModelNotFound(body.model_name)
    return Response(status_code=200)


async def pull(request: Request) -> Response:
    """Install a model, streaming Ollama's progress objects; the work runs on its own
    thread and finishes even if the client goes away, so a retry finds it done."""
    state = _state(request)
    body: PullBody = parse(await request.body(), PullBody)
    name = normalize_name(body.model_name)
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Any] = asyncio.Queue()

    def emit(item: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, item)

    def work() -> None:
        try:
            if name in state.catalog.builtins:  # nothing to fetch
                emit({"status": "pulling manifest"})
                emit({"status": "success"})
            else:
                with state.catalog.lock:
                    models.fetch(name, state.config.models_dir, state.config.cache_dir, emit)
        except Exception as exc:
            emit(exc)
        finally:
            emit(DONE)

    threading.Thread(target=work, name=f"ollama-pull[{name}]", daemon=True).start()

    async def progress() -> AsyncIterator[dict[str, Any] | Exception]:
        while (item := await events.get()) is not DONE:
            yield item

    if not body.stream:
        async for item in progress():
            if isinstance(item, Exception):
                return JSONResponse({"error": str(item)}, status_code=500)
        return JSONResponse({"status": "success"})

    async def lines() -> AsyncIterator[bytes]:
        async for item in progress():
            yield ndjson({"error": str(item)} if isinstance(item, Exception) else item)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def create(request: Request) -> Response:
    """A model from another with a system prompt and parameters (created.py). Everything is
    checked before the first status line, so a refusal is an HTTP error status; the
    manifest is written before the stream starts, so a client that leaves still finds it."""
    state = _state(request)
    body: CreateBody = parse(await request.body(), CreateBody)
    name = normalize_name(body.model_name)
    refuse_unsupported(body)
    parameters = checked_parameters(body.parameters)
    source = state.catalog.get(body.from_)
    if source is None:
        raise ModelNotFound(body.from_)
    if state.catalog.weights(name) is not None:
        raise BadRequest(f"model '{name}' has weights of its own: create the new model under another name")
    base = state.catalog.weights(source.parent or source.name)
    assert base is not None  # a created model is listed only while its base is there
    license = "\n".join(body.license) if isinstance(body.license, list) else body.license
    with state.catalog.lock:
        made = await asyncio.to_thread(
            state.catalog.created.save, name, base.name, source.system if body.system is None else body.system,
            {**source.parameters, **parameters}, source.show.get("license", "") if license is None else license)
    state.scheduler.unload(made.name)  # a re-created model answers with its new settings
    statuses = [{"status": f"using existing layer sha256:{base.digest}"},
                {"status": f"creating new layer sha256:{made.digest}"},
                {"status": "writing manifest"}, {"status": "success"}]
    if not body.stream:
        return JSONResponse(statuses[-1])

    async def lines() -> AsyncIterator[bytes]:
        for status in statuses:
            yield ndjson(status)

    return StreamingResponse(lines(), media_type="application/x-ndjson")

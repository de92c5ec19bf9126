"""The OpenAI-compatible gateway: `/v1/models`, `/v1/models/{id}`, `/v1/chat/completions`
(streaming or not) and `/v1/embeddings`, for every model the caller may use.

Every route's policy is in `POLICIES` (the rules are omnichat.auth.policies, as on the
REST API and the WebSocket); each /v1 route admits an approved user's API key or session.
Which models a caller may use is the catalog's business (`catalog.resolve` and
`catalog.may_use`). Every error, from any layer, leaves in OpenAI's shape (errors.py).
Creating the app does no I/O: no database, secret or AWS call until the first request.
The database is reached through `omnichat.db.lite`, without SQLAlchemy (a cold start of
the gateway would otherwise be mostly the ORM's import)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnichat import __version__
from omnichat.auth.principal import Principal
from omnichat.catalog import catalog
from omnichat.config import Settings, get_settings
from omnichat.db import lite
from omnichat.errors import OmniChatError

from . import chat, embeddings
from .auth import authorized
from .errors import GatewayError, from_exception
from .responses import Chunks
from .schemas import ChatCompletionBody, EmbeddingsBody, parse

# Lambda's limit for a synchronous request payload: room for a few inline images.
DEFAULT_MAX_BODY_BYTES = 6 << 20

Endpoint = Callable[[Request, Principal], Awaitable[Any]]


# ---- request bodies ------------------------------------------------------------------------
async def read_body(request: Request) -> bytes:
    """The body, refused with a 413 as soon as it is larger than the limit (whatever the
    Content-Length says)."""
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length", "")
    too_large = GatewayError(413, f"The request body is larger than {limit} bytes.", code="request_too_large")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


# ---- routes ----------------------------------------------------------------------------------
def v1(endpoint: Endpoint, policy: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint behind its route's policy, checked before it runs (the database work
    on a worker thread). A dict result is sent as JSON."""
    async def route(request: Request) -> Response:
        principal = await to_thread.run_sync(authorized, request, policy)
        result = await endpoint(request, principal)
        return result if isinstance(result, Response) else JSONResponse(result)

    route.__name__ = endpoint.__name__
    route.policy = policy  # type: ignore[attr-defined]
    return route


def _model_object(model_id: str, provider: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": provider}


async def _usable_models(settings: Settings, principal: Principal) -> list[dict[str, Any]]:
    models, _failed = await catalog.discover(settings)

    configured = await to_thread.run_sync(lite.run, settings.resolved_database_url, catalog.all_model_settings)
    presets = await to_thread.run_sync(lite.run, settings.resolved_database_url,
                                       lambda db: catalog.usable_presets(db, settings, principal))
    return [_model_object(m.id, m.provider) for m in models
            if catalog.may_use(principal, configured.get(m.id, catalog.ModelSettings()))] + [
        _model_object(p.model_id, "omnichat") for p in presets]  # custom models: `preset/<slug>`


async def list_models(request: Request, principal: Principal) -> dict[str, Any]:
    return {"object": "list", "data": await _usable_models(request.app.state.settings, principal)}


async def get_model(request: Request, principal: Principal) -> dict[str, Any]:
    model_id = request.path_params["model_id"]
    for model in await _usable_models(request.app.state.settings, principal):
        if model["id"] == model_id:
            return model
    raise GatewayError(404, f"The model '{model_id}' does not exist or you do not have access to it.",
                       code="model_not_found", param="model")


async def chat_completions(request: Request, principal: Principal) -> Response:
    body = parse(ChatCompletionBody, await read_body(request))
    log, provider, chat_request = await chat.prepare(request.app.state.settings, principal, body)
    if not body.stream:
        return JSONResponse(await chat.complete(log, provider, chat_request))
    first, events = await chat.open_stream(log, provider, chat_request)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return chat.stream_response(log, Chunks(log.answering()[0], include_usage), first, events)


async def create_embeddings(request: Request, principal: Principal) -> dict[str, Any]:
    body = parse(EmbeddingsBody, await read_body(request))
    return await embeddings.create(request.app.state.settings, principal, body)


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


# Route -> the rule (omnichat.auth.policies) its caller must pass: the one place that
# says who may call what (tests/openai_gateway/test_authz_matrix.py covers every row).
POLICIES = {"/v1/models": "active", "/v1/models/{model_id:path}": "active", "/v1/chat/completions": "active",
            "/v1/embeddings": "active", "/health": "public"}


def _route(method: str, path: str, endpoint: Any) -> Route:
    policy = POLICIES[path]
    return Route(path, endpoint if policy == "public" else v1(endpoint, policy), methods=[method])


ROUTES = [
    _route("GET", "/v1/models", list_models),
    _route("GET", "/v1/models/{model_id:path}", get_model),
    _route("POST", "/v1/chat/completions", chat_completions),
    _route("POST", "/v1/embeddings", create_embeddings),
    _route("GET", "/health", health),
]


# ---- errors ----------------------------------------------------------------------------------
def error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


async def _known_error(_request: Request, exc: Exception) -> Response:
    return error_response(from_exception(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Unknown request URL: {request.method} {request.url.path}."
        return error_response(GatewayError(404, message, code="unknown_url"))
    if exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        return error_response(GatewayError(405, message, code="method_not_allowed"))
    status = min(exc.status_code, 500)
    return error_response(GatewayError(status, str(exc.detail), code=None))


def create_app(settings: Settings | None = None, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Starlette:
    """Plain Starlette, not FastAPI: four routes with hand-written parsing need none of
    FastAPI's machinery, and importing it would add ~170 ms to every cold start."""
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {OmniChatError: _known_error}
    handlers[HTTPException] = _http_error
    handlers[Exception] = _known_error  # anything else: a 500 in OpenAI's shape, logged
    app = Starlette(routes=ROUTES, exception_handlers=handlers)
    app.state.settings = settings or get_settings()
    app.state.max_body_bytes = max_body_bytes
    app.state.jwt_secret = None  # loaded on the first session-token call (auth.py)
    return app

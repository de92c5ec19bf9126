"""The OpenAI-compatible gateway: `/v1/models`, `/v1/models/{id}`, `/v1/chat/completions`
(streaming or not) and `/v1/embeddings`, for every model the caller may use.

Every /v1 route has one policy, `active_principal` (auth.py): an approved user's API key
or session. Which models a caller may use is the catalog's business (`catalog.resolve`
and `catalog.may_use`). Every error, from any layer, leaves in OpenAI's shape (errors.py).
Creating the app does no I/O: no database, secret or AWS call until the first request."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnichat import __version__
from omnichat.auth.principal import Principal
from omnichat.config import Settings, get_settings
from omnichat.db.engine import session_scope
from omnichat.errors import AppError
from omnichat.models import catalog
from omnichat.providers.errors import ProviderError

from . import chat, embeddings
from .auth import active_principal
from .errors import GatewayError, from_exception, from_validation
from .responses import Chunks
from .schemas import ChatCompletionBody, EmbeddingsBody, parse

# Lambda's limit for a synchronous request payload: room for a few inline images.
DEFAULT_MAX_BODY_BYTES = 6 << 20

Caller = Annotated[Principal, Depends(active_principal)]


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
router = APIRouter(prefix="/v1", dependencies=[Depends(active_principal)])


def _model_object(model_id: str, provider: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": provider}


async def _usable_models(settings: Settings, principal: Principal) -> list[dict[str, Any]]:
    models, _failed = await catalog.discover(settings)

    def model_settings() -> dict[str, catalog.ModelSettings]:
        with session_scope(settings.resolved_database_url) as db:
            return catalog.all_model_settings(db)

    configured = await to_thread.run_sync(model_settings)
    return [_model_object(m.id, m.provider) for m in models
            if catalog.may_use(principal, configured.get(m.id, catalog.ModelSettings()))]


@router.get("/models")
async def list_models(request: Request, principal: Caller) -> dict[str, Any]:
    return {"object": "list", "data": await _usable_models(request.app.state.settings, principal)}


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, request: Request, principal: Caller) -> dict[str, Any]:
    for model in await _usable_models(request.app.state.settings, principal):
        if model["id"] == model_id:
            return model
    raise GatewayError(404, f"The model '{model_id}' does not exist or you do not have access to it.",
                       code="model_not_found", param="model")


@router.post("/chat/completions")
async def chat_completions(request: Request, principal: Caller) -> Response:
    body = parse(ChatCompletionBody, await read_body(request))
    log, provider, chat_request = await chat.prepare(request.app.state.settings, principal, body)
    if not body.stream:
        return JSONResponse(await chat.complete(log, provider, chat_request))
    first, events = await chat.open_stream(log, provider, chat_request)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return chat.stream_response(log, Chunks(log.model.id, include_usage), first, events)


@router.post("/embeddings")
async def create_embeddings(request: Request, principal: Caller) -> dict[str, Any]:
    body = parse(EmbeddingsBody, await read_body(request))
    return await embeddings.create(request.app.state.settings, principal, body)


# ---- errors ----------------------------------------------------------------------------------
def error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


async def _known_error(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(from_exception(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"Unknown request URL: {request.method} {request.url.path}."
        return error_response(GatewayError(404, message, code="unknown_url"))
    if exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        return error_response(GatewayError(405, message, code="method_not_allowed"))
    status = min(exc.status_code, 500)
    return error_response(GatewayError(status, str(exc.detail), code=None))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(from_validation(list(exc.errors())))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(from_exception(exc))


def create_app(settings: Settings | None = None, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(title="OmniChat OpenAI-compatible gateway", version=__version__,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings or get_settings()
    app.state.max_body_bytes = max_body_bytes
    app.state.jwt_secret = None  # loaded on the first session-token call (auth.py)
    for kind in (GatewayError, AppError, ProviderError):
        app.add_exception_handler(kind, _known_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(router)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app

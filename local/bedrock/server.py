"""The emulator app (Bedrock Runtime + control plane on one port) and a runner that
serves it on a background thread for in-process use (tests, `make local`).

    app = create_app()                                  # ASGI app, deterministic engine
    with EmulatorServer(create_app()) as server:        # uvicorn on 127.0.0.1:<free port>
        boto3.client("bedrock-runtime", endpoint_url=server.url, ...)
        server.state.faults.error("ThrottlingException", times=2)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from local.engines import DeterministicEngine, Engine
from local.serve import ServerThread

from . import admin, control, invoke, runtime
from .access import ModelAccess
from .caching import PromptCache
from .catalog import DEFAULT_MODELS, LOCAL_GGUF_MODEL, Catalog, FoundationModel
from .errors import AwsError
from .generation import EngineRunner
from .signing import KNOWN_CREDENTIALS, SignatureCheck
from .state import EmulatorState

# A hosted model reads a prompt far faster than it writes: 2,000 uncached tokens, 0.1 s.
PREFILL_TOKENS_PER_S = 20_000.0


async def _aws_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AwsError)
    return exc.to_response()


async def _not_found(request: Request, exc: Exception) -> Response:
    return AwsError(
        "UnknownOperationException", f"No operation at {request.method} {request.url.path}"
    ).to_response()


def create_app(
    *,
    engines: dict[str, Engine] | None = None,
    models: Iterable[FoundationModel] | None = None,
    gguf_path: str | Path | None = None,
    region: str = "us-east-1",
    worker_threads: int = 32,
    credentials: Mapping[str, str] = KNOWN_CREDENTIALS,
    model_access: Mapping[str, str] | None = None,
    prefill_tokens_per_s: float = PREFILL_TOKENS_PER_S,
) -> Starlette:
    """The emulator as an ASGI app.

    `engines` maps `FoundationModel.engine` keys to engines (default: a
    `DeterministicEngine` as "deterministic"). With `gguf_path`, `local.smollm2-135m` is
    added to the catalog, served by `LlamaEngine` (loaded here, once). Requests signed with
    a key in `credentials` (access key -> secret) must be signed right, for `region`.
    `model_access` maps model ids to an access state (access.py), e.g. "not_subscribed".
    Emulated models read their uncached prompt at `prefill_tokens_per_s` before the first
    token (0: at once), so a prompt-cache hit answers sooner (caching.py).
    """
    engines = dict(engines or {})
    engines.setdefault("deterministic", DeterministicEngine())
    catalog_models = list(DEFAULT_MODELS if models is None else models)
    if gguf_path is not None:
        from local.engines import LlamaEngine  # heavy: only when a GGUF file is served

        engines["llama"] = LlamaEngine(
            gguf_path, n_ctx=LOCAL_GGUF_MODEL.context_window, name=LOCAL_GGUF_MODEL.model_id)
        catalog_models.append(LOCAL_GGUF_MODEL)

    executor = ThreadPoolExecutor(max_workers=worker_threads, thread_name_prefix="bedrock-engine")
    state = EmulatorState(
        catalog=Catalog(catalog_models, region=region),
        runners={key: EngineRunner(engine, executor) for key, engine in engines.items()},
        access=ModelAccess(model_access),
        cache=PromptCache(prefill_tokens_per_s=prefill_tokens_per_s),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = Starlette(
        routes=runtime.routes + invoke.routes + control.routes + admin.routes,
        exception_handlers={AwsError: _aws_error, 404: _not_found, 405: _not_found},
        lifespan=lifespan,
        middleware=[Middleware(SignatureCheck, credentials=credentials, region=region)],
    )
    app.state.emulator = state
    return app


class EmulatorServer(ServerThread):
    """The emulator served on a loopback port from a background thread."""

    @property
    def state(self) -> EmulatorState:
        return self.app.state.emulator

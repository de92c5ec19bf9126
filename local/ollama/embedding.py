"""`POST /api/embed` and the legacy `POST /api/embeddings`: one job on the model's runner
(so llama.cpp embeds on the same single thread that generates), then Ollama's answer.

As in Ollama, `/api/embed` L2-normalises the engine's raw vectors (and with `dimensions`
keeps the first ones and normalises again); the legacy endpoint returns them raw.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .catalog import ServedModel
from .generation import first_event, load_or_unload
from .scheduler import Embedded, Job
from .schemas import BadRequest, EmbedBody, EmbeddingsBody, embed_inputs, keep_alive_seconds, parse
from .state import ModelNotPulled, ServerState

# Normalising a big batch on the event loop would stall every other stream for a while.
_INLINE_FLOATS = 50_000


def normalized(vector: list[float], dimensions: int | None = None) -> list[float]:
    """What `/api/embed` answers for an engine's raw vector (Ollama's `normalize`)."""
    unit = _normalize(vector)
    if dimensions is not None and 0 < dimensions < len(unit):
        unit = _normalize(unit[:dimensions])
    return unit


def _normalize(vector: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in vector):
        raise BadRequest("embedding contains NaN or Inf values")
    scale = 1.0 / max(math.hypot(*vector), 1e-12)
    return [v * scale for v in vector]


async def embed(request: Request) -> Response:
    state: ServerState = request.app.state.ollama
    body: EmbedBody = parse(await request.body(), EmbedBody)
    texts = embed_inputs(body.input)
    model = _model(state, body.model_name)
    keep_alive = keep_alive_seconds(body.keep_alive, state.config.keep_alive)
    if not texts:  # no input: Ollama loads (or with keep_alive 0, unloads) the model
        await load_or_unload(state.scheduler, model, keep_alive)
        return JSONResponse({"model": body.model_name, "embeddings": []})
    options = {"truncate": body.truncate is not False}
    job = Job(None, options, keep_alive, asyncio.get_running_loop(), texts=texts)
    result: Embedded = await first_event(state.scheduler, model, job)

    def finish() -> list[list[float]]:
        return [normalized(v, body.dimensions) for v in result.vectors]

    size = sum(len(v) for v in result.vectors)
    vectors = finish() if size <= _INLINE_FLOATS else await asyncio.to_thread(finish)
    return JSONResponse(
        {
            "model": body.model_name,  # as asked, like Ollama
            "embeddings": vectors,
            "total_duration": time.perf_counter_ns() - job.queued_ns,
            "load_duration": job.load_ns,
            "prompt_eval_count": result.prompt_tokens,
        }
    )


async def embeddings(request: Request) -> Response:
    """The legacy endpoint: `{model, prompt}` → `{"embedding": [...]}`, not normalised."""
    state: ServerState = request.app.state.ollama
    body: EmbeddingsBody = parse(await request.body(), EmbeddingsBody)
    model = _model(state, body.model_name)
    keep_alive = keep_alive_seconds(body.keep_alive, state.config.keep_alive)
    if not body.prompt:
        await load_or_unload(state.scheduler, model, keep_alive)
        return JSONResponse({"embedding": []})
    job = Job(None, {"truncate": True}, keep_alive, asyncio.get_running_loop(), texts=[body.prompt])
    result: Embedded = await first_event(state.scheduler, model, job)
    return JSONResponse({"embedding": result.vectors[0]})


def _model(state: ServerState, name: str) -> ServedModel:
    model = state.catalog.get(name)
    if model is None:
        raise ModelNotPulled(name)
    return model

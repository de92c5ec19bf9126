"""`POST /api/chat` and `POST /api/generate`: queue a job on the model's runner, then answer
with Ollama's NDJSON stream (or one JSON object when `stream` is false)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from local.engines import ChatTurn, Piece

from .catalog import ServedModel
from .created import with_defaults
from .scheduler import DONE, Job, Scheduler
from .schemas import (
    BadRequest,
    ChatBody,
    GenerateBody,
    keep_alive_seconds,
    ndjson,
    output_format,
    parse,
    rfc3339,
    sampling,
)
from .state import ModelNotFound, ServerState

NDJSON = "application/x-ndjson"


async def chat(request: Request) -> Response:
    state: ServerState = request.app.state.ollama
    body: ChatBody = parse(await request.body(), ChatBody)
    model = _model(state, body.model_name)
    _check_completion(model, body.model_name, "chat")
    _check_capabilities(model, tools=bool(body.tools), think=body.think, images=any(m.images for m in body.messages))
    options = _options(body, model)
    keep_alive = keep_alive_seconds(body.keep_alive, state.config.keep_alive)
    if not body.messages:  # Ollama's way to load (or, with keep_alive 0, unload) a model
        reason = await load_or_unload(state.scheduler, model, keep_alive)
        return JSONResponse(_chat_line(model, "", done=True) | {"done_reason": reason})
    turns: list[ChatTurn] = [{"role": m.role, "content": m.content or ""} for m in body.messages]
    if model.system and turns[0]["role"] != "system":  # a created model's, unless the request brings one
        turns.insert(0, {"role": "system", "content": model.system})
    job, first = await _start(state.scheduler, model, turns, options, keep_alive)
    return await _respond(model, job, first, body.stream, _chat_line)


async def generate(request: Request) -> Response:
    state: ServerState = request.app.state.ollama
    body: GenerateBody = parse(await request.body(), GenerateBody)
    model = _model(state, body.model_name)
    _check_completion(model, body.model_name, "generate")
    _check_capabilities(model, tools=False, think=body.think, images=bool(body.images))
    options = _options(body, model)
    unsupported = {"raw": body.raw, "template": body.template, "context": body.context}
    for field, value in unsupported.items():
        if value:
            raise BadRequest(f"{field} is not supported by this server")
    if body.suffix:
        raise BadRequest(f"{model.name} does not support insert")
    keep_alive = keep_alive_seconds(body.keep_alive, state.config.keep_alive)
    if not body.prompt:
        reason = await load_or_unload(state.scheduler, model, keep_alive)
        return JSONResponse(_generate_line(model, "", done=True) | {"done_reason": reason})
    system = body.system or model.system  # a created model's, unless the request brings one
    turns: list[ChatTurn] = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": body.prompt}
    ]
    job, first = await _start(state.scheduler, model, turns, options, keep_alive)
    return await _respond(model, job, first, body.stream, _generate_line)


# ---- shared ------------------------------------------------------------------------------
LineMaker = Callable[..., dict[str, Any]]


def _options(body: ChatBody | GenerateBody, model: ServedModel) -> dict[str, Any]:
    """The engine's keyword arguments: sampling (the request's options over a created
    model's parameters), and `format` (structured output) if asked."""
    options = sampling(with_defaults(body.options, model.parameters))
    fmt = output_format(body.format)
    if fmt is not None:
        options["format"] = fmt
    return options


async def _respond(model: ServedModel, job: Job, first: Any, stream: bool, line: LineMaker) -> Response:
    pieces = _pieces(job, first)
    if not stream:
        text, final = await _collect(pieces)
        return JSONResponse(line(model, text, done=True) | _final_fields(job, final))

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for piece in pieces:
                if piece.text:
                    yield ndjson(line(model, piece.text, done=False))
                if piece.stop_reason is not None:
                    yield ndjson(line(model, "", done=True) | _final_fields(job, piece))
        except Exception as exc:  # the status is already 200: report in-band, as Ollama does
            yield ndjson({"error": _message(exc)})

    return StreamingResponse(lines(), media_type=NDJSON)


def _model(state: ServerState, name: str) -> ServedModel:
    model = state.catalog.get(name)
    if model is None:
        raise ModelNotFound(name)
    return model


def _check_completion(model: ServedModel, asked: str, action: str) -> None:
    """An embedding model does not generate; Ollama's wording, with the name as asked."""
    if "completion" not in model.capabilities:
        raise BadRequest(f"{json.dumps(asked)} does not support {action}")  # Go's %q


def _check_capabilities(model: ServedModel, *, tools: bool, think: bool | str | None, images: bool) -> None:
    caps = model.capabilities
    if tools and "tools" not in caps:
        raise BadRequest(f"{model.name} does not support tools")
    if think and "thinking" not in caps:
        raise BadRequest(f'"{model.name}" does not support thinking')
    if images and "vision" not in caps:
        raise BadRequest(f"{model.name} does not support images")


async def load_or_unload(scheduler: Scheduler, model: ServedModel, keep_alive: float | None) -> str:
    if keep_alive == 0:
        scheduler.unload(model.name)
        return "unload"
    await _start(scheduler, model, None, {}, keep_alive)
    return "load"


async def _start(
    scheduler: Scheduler,
    model: ServedModel,
    turns: list[ChatTurn] | None,
    options: dict[str, Any],
    keep_alive: float | None,
) -> tuple[Job, Any]:
    job = Job(turns, options, keep_alive, asyncio.get_running_loop())
    return job, await first_event(scheduler, model, job)


async def first_event(scheduler: Scheduler, model: ServedModel, job: Job) -> Any:
    """Queue the job and wait for its first event, so that a failure to load the model or
    to read the prompt is still an HTTP error status rather than a line in a 200 stream."""
    scheduler.submit(model, job)
    try:
        first = await job.events.get()
    except BaseException:
        job.cancel()
        raise
    if isinstance(first, BaseException):
        raise first
    return first


async def _pieces(job: Job, first: Any) -> AsyncIterator[Piece]:
    item = first
    try:
        while True:
            if isinstance(item, BaseException):
                raise item
            if item is DONE:
                raise RuntimeError("generation stopped before its end")
            yield item
            if item.stop_reason is not None:
                return
            item = await job.events.get()
    finally:
        job.cancel()  # a no-op once finished; stops the worker when the client has left


async def _collect(pieces: AsyncIterator[Piece]) -> tuple[str, Piece]:
    parts: list[str] = []
    async for piece in pieces:
        parts.append(piece.text)
        if piece.stop_reason is not None:
            return "".join(parts), piece
    raise RuntimeError("generation stopped before its end")


def _chat_line(model: ServedModel, text: str, *, done: bool) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {"model": model.name, "created_at": rfc3339(), "message": message, "done": done}


def _generate_line(model: ServedModel, text: str, *, done: bool) -> dict[str, Any]:
    return {"model": model.name, "created_at": rfc3339(), "response": text, "done": done}


def _final_fields(job: Job, final: Piece) -> dict[str, Any]:
    """Ollama's closing statistics; all durations in nanoseconds."""
    end = job.ended_ns or time.perf_counter_ns()
    first = job.first_ns or end
    return {
        "done_reason": final.stop_reason,
        "total_duration": time.perf_counter_ns() - job.queued_ns,
        "load_duration": job.load_ns,
        "prompt_eval_count": final.prompt_tokens,
        "prompt_eval_duration": max(0, first - job.started_ns),
        "eval_count": final.completion_tokens,
        "eval_duration": max(0, end - first),
    }


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__

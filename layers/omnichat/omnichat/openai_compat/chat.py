"""`POST /v1/chat/completions`: one model call, answered whole or as server-sent events.

Streams start only once the model has produced its first event, so every failure before
the first token (throttling, unknown model, validation, backend down) is an ordinary
HTTP error status with OpenAI's error body, never a 200 that carries an error. A failure
after the stream started is sent as an SSE `{"error": ...}` event (the SDKs raise
`APIError` for it) and the stream ends without `[DONE]`, so no client mistakes a cut-off
answer for a complete one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from omnichat.auth.principal import Principal
from omnichat.billing import calls as billing
from omnichat.config import Settings
from omnichat.providers import fallback
from omnichat.providers.errors import ProviderError
from omnichat.providers.structured import StrictOutput
from omnichat.providers.types import ChatRequest, Finish, StreamEvent

from . import reasoning
from .calls import CallLog, provider_for, resolve_model
from .errors import GatewayError, from_exception
from .requests import chat_request
from .responses import Chunks, Completion
from .schemas import ChatCompletionBody

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
WRITE_AHEAD_CHUNKS = 256  # chunks made ahead of the socket at most (then the stream waits)


async def prepare(settings: Settings, principal: Principal, body: ChatCompletionBody) -> tuple[CallLog, Any,
                                                                                                ChatRequest]:
    model = await resolve_model(settings, principal, body.model)
    budget = await reasoning.budget_for(model.provider, provider_for(settings, model), model.name,
                                        body.reasoning_effort)
    if _has_file_parts(body.messages):  # only then: documents' code stays off the usual path
        from . import files

        body = replace(body, messages=await files.inline_files(settings, principal, body.messages))
    request = chat_request(body, model, budget)
    chain = fallback.for_model(settings, model)  # the model, then its fallback chain
    provider: Any = chain
    if request.response_format is not None and request.response_format.strict:
        provider = StrictOutput(provider)  # the finished answer is checked against the schema
    log = CallLog(settings, principal, model, chain)
    await log.reserve(billing.chat_ask(model, request))  # the last step: nothing after it fails first
    return log, provider, request


def _has_file_parts(messages: list[dict[str, Any]]) -> bool:
    return any(isinstance(m, dict) and isinstance(m.get("content"), list)
               and any(isinstance(p, dict) and p.get("type") == "file" for p in m["content"]) for m in messages)


async def _fail(log: CallLog, exc: BaseException) -> GatewayError:
    error = from_exception(exc)
    await log.record("error", error_code=error.code or type(exc).__name__)
    return error


async def complete(log: CallLog, provider: Any, request: ChatRequest) -> dict[str, Any]:
    answer = Completion(log.model.id)
    events = provider.stream_chat(request)
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                log.token()
                answer.add(event)
    except Exception as exc:
        raise await _fail(log, exc) from exc
    if answer.finish is None:
        raise await _fail(log, ProviderError("the model's stream ended without finishing"))
    answer.model = log.answering(answer.finish)[0]
    await log.record("complete", answer.finish)
    return answer.body()


async def open_stream(log: CallLog, provider: Any, request: ChatRequest
                      ) -> tuple[StreamEvent, AsyncIterator[StreamEvent]]:
    """The stream and its first event: what fails here is still a plain HTTP error."""
    events = provider.stream_chat(request)
    try:
        first = await events.__anext__()
    except BaseException as exc:
        await events.aclose()
        if isinstance(exc, StopAsyncIteration):
            exc = ProviderError("the model's stream ended before it started")
        if isinstance(exc, Exception):
            raise await _fail(log, exc) from exc
        raise
    log.token()
    return first, events


async def sse(log: CallLog, chunks: Chunks, first: StreamEvent,
              events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """The answer's events; the call is logged before its last event is sent, so a client
    that has read the whole stream can already see its usage row."""
    try:
        yield chunks.start()
        event = first
        while not isinstance(event, Finish):
            yield chunks.event(event)
            event = await events.__anext__()
        await log.record("complete", event)
        yield chunks.finish(event)
    except Exception as exc:  # mid-stream: an error event, then the end of the stream
        if isinstance(exc, StopAsyncIteration):
            exc = ProviderError("the model's stream ended without finishing")
        error = from_exception(exc)
        await log.record("error", error_code=error.code or type(exc).__name__)
        yield error.sse()
    finally:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
            await log.record("stopped")  # the client went away (no-op once recorded)


class EventStream(StreamingResponse):
    """A `text/event-stream` response that always closes its body iterator, also when the
    client disconnects (Starlette then abandons it), so the provider stream is closed and
    the call is logged at once rather than whenever the generator is collected."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], Awaitable[None]]) -> None:
        super().__init__(content, headers=SSE_HEADERS)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
                await self.on_close()  # for a body that never started, its finally never ran

    async def stream_response(self, send: Send) -> None:
        """The events made while the socket was last written go out in one write. One
        write per event cost a system call each: with 20 streams at full speed, the
        event loop spent half its time in them and every new stream's first token waited
        behind them. An event made while nothing else is pending is written at once."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        made, ready = anyio.create_memory_object_stream[bytes](max_buffer_size=WRITE_AHEAD_CHUNKS)

        async def make() -> None:
            async with made:
                async for chunk in self.body_iterator:
                    data = chunk if isinstance(chunk, bytes) else (
                        chunk.encode(self.charset) if isinstance(chunk, str) else bytes(chunk))
                    try:
                        made.send_nowait(data)  # no checkpoint: everything ready is made first
                    except anyio.WouldBlock:
                        await made.send(data)  # the client reads slower than the model writes

        async with anyio.create_task_group() as tasks, ready:
            tasks.start_soon(make)
            async for chunk in ready:
                parts = [chunk]
                with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
                    while len(parts) < WRITE_AHEAD_CHUNKS:
                        parts.append(ready.receive_nowait())
                await send({"type": "http.response.body", "body": b"".join(parts), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def stream_response(log: CallLog, chunks: Chunks, first: StreamEvent, events: AsyncIterator[StreamEvent]
                    ) -> EventStream:
    async def on_close() -> None:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
        await log.record("stopped")  # no-op when the stream already recorded how it ended

    return EventStream(sse(log, chunks, first, events), on_close)

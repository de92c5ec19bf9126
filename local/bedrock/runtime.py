"""Bedrock Runtime: `POST /model/{modelId}/converse` and `/converse-stream`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .errors import AwsError, default_message, validation
from .eventstream import corrupt, encode_event, encode_exception
from .faults import Fault
from .generation import (
    DoneOut,
    EngineFailure,
    Output,
    PromptTooLong,
    ReasoningOut,
    TextOut,
    ToolOut,
    generate,
)
from .state import EmulatorState
from .validation import ConverseCall, parse_converse

EVENTSTREAM_TYPE = "application/vnd.amazon.eventstream"


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


async def _prepare(request: Request, operation: str) -> tuple[EmulatorState, ConverseCall, Fault | None]:
    """Everything that can fail before the response starts: faults, model, validation."""
    state = _state(request)
    model_id = request.path_params["model_id"]
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise AwsError("SerializationException", "The request body is not valid JSON.") from None
    state.journal.record(operation, model_id, body)
    fault = state.faults.take(operation, model_id)
    if fault is not None and fault.kind == "stall" and fault.after_deltas == 0:
        await asyncio.sleep(fault.seconds)
    if fault is not None and fault.kind == "error":
        raise fault.aws_error()
    model = state.catalog.resolve(model_id)
    state.access.check(model)
    call = parse_converse(body, model)
    state.runner_for(call.model)  # fails now if the model's engine is not loaded
    return state, call, fault


def _engine_error(exc: EngineFailure) -> AwsError:
    if isinstance(exc, PromptTooLong):
        return validation("Input is too long for requested model.")
    return AwsError("ModelErrorException", f"The model failed: {exc}")


def _usage(done: DoneOut) -> dict[str, int]:
    usage = {
        "inputTokens": done.input_tokens,
        "outputTokens": done.output_tokens,
        "totalTokens": done.input_tokens + done.output_tokens
        + done.cache_read_tokens + done.cache_write_tokens,
    }
    if done.cache_read_tokens or done.cache_write_tokens:
        usage["cacheReadInputTokens"] = done.cache_read_tokens
        usage["cacheWriteInputTokens"] = done.cache_write_tokens
    return usage


def _latency_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def converse(request: Request) -> Response:
    started = time.perf_counter()
    state, call, _ = await _prepare(request, "Converse")
    reasoning, signature, text, tools, done = "", "", "", [], None
    try:
        async for out in generate(call, state.runner_for(call.model), state.cache):
            if isinstance(out, ReasoningOut):
                reasoning += out.text
                signature = out.signature or signature
            elif isinstance(out, TextOut):
                text += out.text
            elif isinstance(out, ToolOut):
                use = {"toolUseId": out.tool_use_id, "name": out.name, "input": out.input}
                tools.append({"toolUse": use})
            else:
                done = out
    except EngineFailure as exc:
        raise _engine_error(exc) from None
    assert done is not None
    content: list[dict[str, Any]] = []
    if reasoning:
        content.append({"reasoningContent": {"reasoningText": {"text": reasoning, "signature": signature}}})
    if text or not tools:
        content.append({"text": text})
    content.extend(tools)
    return JSONResponse({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": done.stop_reason,
        "usage": _usage(done),
        "metrics": {"latencyMs": _latency_ms(started)},
    })


class _StreamFrames:
    """Turns generator output into ConverseStream events, with content block indexes
    (reasoning, then text, then each tool call), and applies a stream fault."""

    def __init__(self, fault: Fault | None) -> None:
        # Errors and stalls before the first byte were handled before the response began.
        before_start = fault is None or fault.kind == "error" or (
            fault.kind == "stall" and fault.after_deltas == 0)
        self.fault = None if before_start else fault
        self.sent_deltas = 0
        self.index = -1
        self.open_kind: str | None = None

    def close_block(self) -> list[bytes]:
        if self.open_kind is None:
            return []
        self.open_kind = None
        return [encode_event("contentBlockStop", {"contentBlockIndex": self.index})]

    def _block(self, kind: str) -> list[tuple[bytes, bool]]:
        if self.open_kind == kind and kind != "toolUse":
            return []
        frames = [(f, False) for f in self.close_block()]
        self.index += 1
        self.open_kind = kind
        return frames

    def _delta(self, delta: dict[str, Any]) -> tuple[bytes, bool]:
        return encode_event("contentBlockDelta", {"delta": delta, "contentBlockIndex": self.index}), True

    def frames_for(self, out: Output) -> list[tuple[bytes, bool]]:
        """(frame, is_delta) pairs for one piece of output."""
        if isinstance(out, ReasoningOut):
            part = {"text": out.text} if out.text else {"signature": out.signature}
            return [*self._block("reasoning"), self._delta({"reasoningContent": part})]
        if isinstance(out, TextOut):
            return [*self._block("text"), self._delta({"text": out.text})]
        if isinstance(out, ToolOut):
            frames = self._block("toolUse")
            start = {"toolUse": {"toolUseId": out.tool_use_id, "name": out.name}}
            opening = {"start": start, "contentBlockIndex": self.index}
            frames.append((encode_event("contentBlockStart", opening), False))
            raw = json.dumps(out.input)
            for i in range(0, max(len(raw), 1), 16):  # input arrives as partial JSON
                frames.append(self._delta({"toolUse": {"input": raw[i:i + 16]}}))
            return frames
        return []

    async def strike(self, frame: bytes, *, at_end: bool = False) -> tuple[bytes, bool]:
        """Apply the stream fault before this delta `frame` (or before messageStop when
        `at_end`) if it is due: returns (frame to send, whether the stream ends after it)."""
        fault = self.fault
        if fault is None or (self.sent_deltas < fault.after_deltas and not at_end):
            return frame, False
        self.fault = None
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            return frame, False
        if fault.kind == "corrupt":
            return corrupt(frame), True
        message = fault.message or default_message(fault.code)
        payload: dict[str, Any] = {"message": message}
        if fault.code == "modelStreamErrorException":
            payload.update(originalStatusCode=500, originalMessage=message)
        return encode_exception(fault.code, payload), True


async def _stream_body(
    first: Output, outputs: AsyncGenerator[Output, None], fault: Fault | None, started: float,
) -> AsyncIterator[bytes]:
    writer = _StreamFrames(fault)
    yield encode_event("messageStart", {"role": "assistant"})
    done: DoneOut | None = None

    pending: list[Output] = [first]
    try:
        while True:
            if pending:
                out = pending.pop()
            else:
                try:
                    out = await anext(outputs)
                except StopAsyncIteration:
                    break
            if isinstance(out, DoneOut):
                done = out
                continue
            for frame, is_delta in writer.frames_for(out):
                if is_delta:
                    frame, end = await writer.strike(frame)
                    if end:
                        yield frame
                        return
                    writer.sent_deltas += 1
                yield frame
    except EngineFailure as exc:
        yield encode_exception("modelStreamErrorException", {
            "message": f"The model failed: {exc}", "originalStatusCode": 500,
            "originalMessage": str(exc),
        })
        return
    finally:
        await outputs.aclose()  # stop the engine when the client goes away
    assert done is not None
    for frame in writer.close_block():
        yield frame
    stop = encode_event("messageStop", {"stopReason": done.stop_reason})
    # A fault due after more deltas than the answer had still strikes, before the end.
    stop, end = await writer.strike(stop, at_end=True)
    yield stop
    if end:
        return
    yield encode_event("metadata", {"usage": _usage(done), "metrics": {"latencyMs": _latency_ms(started)}})


async def converse_stream(request: Request) -> Response:
    started = time.perf_counter()
    state, call, fault = await _prepare(request, "ConverseStream")
    outputs = generate(call, state.runner_for(call.model), state.cache)
    # Wait for the first output before answering 200, so failures that happen before any
    # token (a prompt the engine cannot fit, an engine error) are plain HTTP errors, as
    # they are on Bedrock.
    try:
        first = await anext(outputs)
    except EngineFailure as exc:
        raise _engine_error(exc) from None
    return StreamingResponse(
        _stream_body(first, outputs, fault, started),
        media_type=EVENTSTREAM_TYPE,
        headers={"x-amzn-RequestId": request.headers.get("amz-sdk-invocation-id", "emulated")},
    )


routes = [
    Route("/model/{model_id:path}/converse", converse, methods=["POST"]),
    Route("/model/{model_id:path}/converse-stream", converse_stream, methods=["POST"]),
]

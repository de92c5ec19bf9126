"""The relay: runs one model call and delivers it.

A producer task reads the provider's stream into a queue; the relay loop waits on that
queue with a timeout set by the next thing due — the coalescer's deadline (~50 ms), the
next control poll (stop flag, new subscribers), the next progress save (2 s), the
Lambda's deadline — so every one of them happens on time even while the model is silent.

Delivery never decides the outcome: a connection that is gone is dropped and the answer
still completes and is saved; only the model, a stop, or the deadline end it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omnichat.billing.calls import priced_by
from omnichat.providers.errors import ProviderError, ProviderTimeout
from omnichat.providers.fallback import answered_by
from omnichat.providers.types import ChatProvider, ChatRequest, Finish, ReasoningDelta, TextDelta
from omnichat.streaming import control, frames
from omnichat.streaming.coalescer import Coalescer
from omnichat.streaming.sinks import ConnectionGone, Sink
from omnichat.usage import CallRecord

log = logging.getLogger("omnichat.relay")

_END = object()


@dataclass(frozen=True)
class RelayTuning:
    max_delay_s: float = 0.05  # a delta waits at most this long before it is posted
    max_chars: int = 4096  # ... or until this much text has gathered
    poll_interval_s: float = 0.5  # stop flag and new subscribers (stop acts within ~1 s)
    save_interval_s: float = 2.0  # partial content persisted at least this often


@dataclass
class Generation:
    db_url: str
    chat_id: str
    message_id: str
    user_id: str
    model_id: str
    provider_name: str
    provider: ChatProvider
    request: ChatRequest
    sink: Sink
    subscribers: set[str]
    api_key_id: str | None = None
    deadline: float | None = None  # time.monotonic() by which the answer must be closed
    tuning: RelayTuning = field(default_factory=RelayTuning)
    on_post: Callable[[dict[str, Any]], None] | None = None  # observes posts (benchmarks)
    priced_model: str | None = None  # the provider model whose prices apply (a preset's base)
    reservation_id: str | None = None  # the call's budget reservation, settled with its usage row
    done_extra: dict[str, Any] | None = None  # more fields of `message.done` (an answer's `sources`)


@dataclass
class Outcome:
    status: str  # complete | stopped | error
    content: str
    reasoning: str
    stop_reason: str | None
    usage: dict[str, Any]
    error: dict[str, Any] | None
    posts: int


class Relay:
    def __init__(self, gen: Generation) -> None:
        self.gen = gen
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.text_len = 0
        self.sent_len = 0  # characters of the answer already posted as deltas
        self.posts = 0
        self.coalescer = Coalescer(gen.tuning.max_delay_s, gen.tuning.max_chars)
        self.subscribers = set(gen.subscribers)

    # ---- delivery ----------------------------------------------------------------------
    def _post_now(self, event: dict[str, Any], only: set[str] | None = None) -> None:
        data = frames.encode(event)
        for connection_id in list(only if only is not None else self.subscribers):
            try:
                self.gen.sink.post(connection_id, data)
                self.posts += 1
            except ConnectionGone:
                self.subscribers.discard(connection_id)
                control.unsubscribe(self.gen.db_url, self.gen.message_id, connection_id)
            except Exception:  # a failed post must not fail the answer
                log.warning("post to %s failed", connection_id, exc_info=True)
        if self.gen.on_post:
            self.gen.on_post(event)

    async def post(self, event: dict[str, Any], only: set[str] | None = None) -> None:
        if self.subscribers or only:
            await asyncio.to_thread(self._post_now, event, only)

    async def flush_deltas(self) -> None:
        text, reasoning = self.coalescer.take()
        if not text and not reasoning:
            return
        offset = self.sent_len
        self.sent_len += len(text)
        await self.post(frames.delta(self.gen.chat_id, self.gen.message_id, offset, text, reasoning))

    async def welcome(self, connections: set[str]) -> None:
        """A connection that resumed mid-answer: the text posted so far, then it joins
        the live deltas (buffered text reaches it with the next delta)."""
        sent = "".join(self.text)[: self.sent_len]
        self.subscribers |= connections
        for event in frames.snapshots(self.gen.chat_id, self.gen.message_id, sent, "".join(self.reasoning),
                                      "streaming"):
            await self.post(event, only=connections)

    # ---- the loop ----------------------------------------------------------------------
    async def run(self) -> Outcome:
        gen, tuning = self.gen, self.gen.tuning
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def produce() -> None:
            try:
                async for event in gen.provider.stream_chat(gen.request):
                    await queue.put(event)
                await queue.put(_END)
            except ProviderError as exc:
                exc.log(log, f"model call {gen.model_id}")  # users see only exc.message
                await queue.put(exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an unexpected bug in a provider is still an error event
                log.exception("provider failed")
                await queue.put(ProviderError(f"{type(exc).__name__}: {exc}"))

        started = time.monotonic()
        producer = asyncio.create_task(produce())
        next_poll = started + tuning.poll_interval_s
        next_save = started + tuning.save_interval_s
        finish: Finish | None = None
        failure: ProviderError | None = None
        status, ttft_ms, deltas = "complete", None, 0
        try:
            while True:
                now = time.monotonic()
                waits = [self.coalescer.seconds_left(), next_poll - now, next_save - now]
                if gen.deadline is not None:
                    waits.append(gen.deadline - now)
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=max(0.0, min(waits)))
                except TimeoutError:
                    item = None
                if isinstance(item, TextDelta) and item.text:
                    if ttft_ms is None:
                        ttft_ms = (time.monotonic() - started) * 1000
                    deltas += 1
                    self.text.append(item.text)
                    self.text_len += len(item.text)
                    self.coalescer.add(text=item.text)
                elif isinstance(item, ReasoningDelta) and item.text:
                    self.reasoning.append(item.text)
                    self.coalescer.add(reasoning=item.text)
                elif isinstance(item, Finish):
                    finish = item
                elif isinstance(item, ProviderError):
                    failure, status = item, "error"
                    break
                elif item is _END:
                    break
                if self.coalescer.due():
                    await self.flush_deltas()
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + tuning.poll_interval_s
                    state = await asyncio.to_thread(control.poll, gen.db_url, gen.message_id)
                    if state.stop_requested:
                        status = "stopped"
                        break
                    self.subscribers &= state.subscribers  # disconnected clients leave
                    if state.subscribers - self.subscribers:
                        await self.flush_deltas()
                        await self.welcome(set(state.subscribers - self.subscribers))
                if now >= next_save:
                    next_save = now + tuning.save_interval_s
                    await asyncio.to_thread(control.save_progress, gen.db_url, gen.message_id,
                                            "".join(self.text), "".join(self.reasoning))
                if gen.deadline is not None and now >= gen.deadline:
                    failure = ProviderTimeout("the relay's deadline passed", provider=gen.provider_name,
                                              message="The answer took longer than this server allows.")
                    status = "error"
                    break
        finally:
            if not producer.done():
                producer.cancel()  # closes the provider's stream: the model stops generating
                await asyncio.gather(producer, return_exceptions=True)
        await self.flush_deltas()
        return await self._close(status, finish, failure, ttft_ms, deltas, started)

    async def _close(self, status: str, finish: Finish | None, failure: ProviderError | None,
                     ttft_ms: float | None, deltas: int, started: float) -> Outcome:
        gen = self.gen
        duration_ms = (time.monotonic() - started) * 1000
        u = finish.usage if finish else None
        input_tokens = u.input_tokens if u else 0
        # Without the model's final count (stopped, failed), the deltas are the best count.
        output_tokens = u.output_tokens if u else deltas
        usage = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "ttft_ms": None if ttft_ms is None else round(ttft_ms, 1),
            "duration_ms": round(duration_ms, 1),
        }
        error = {"code": failure.code, "message": failure.message} if failure else None
        content, reasoning = "".join(self.text), "".join(self.reasoning)
        # The model that answered: a fallback's when the asked one failed before its first token.
        model_id, provider_name = answered_by(gen.provider, finish, gen.model_id, gen.provider_name)
        call = CallRecord(
            user_id=gen.user_id, api_key_id=gen.api_key_id, chat_id=gen.chat_id, message_id=gen.message_id,
            model=model_id, provider=provider_name, outcome=status,
            input_tokens=input_tokens, output_tokens=output_tokens,
            cache_read_tokens=u.cache_read_tokens if u else 0, cache_write_tokens=u.cache_write_tokens if u else 0,
            ttft_ms=ttft_ms, duration_ms=duration_ms, error_code=failure.code if failure else None,
            priced_model=priced_by(gen.provider, gen.priced_model or model_id), reservation_id=gen.reservation_id,
        )
        subscribers = await asyncio.to_thread(control.finish, gen.db_url, gen.message_id, status=status,
                                              content=content, reasoning=reasoning, usage=usage, error=error,
                                              call=call, model=model_id)
        if subscribers - self.subscribers:  # joined since the last poll: the text, then the end
            await self.welcome(set(subscribers - self.subscribers))
        stop_reason = finish.stop_reason if finish and status == "complete" else None
        if error:
            await self.post(frames.error(error["code"], error["message"], chat_id=gen.chat_id,
                                         message_id=gen.message_id))
        await self.post({**frames.done(gen.chat_id, gen.message_id, status, stop_reason, usage, error, model=model_id),
                         **(gen.done_extra or {})})
        return Outcome(status, content, reasoning, stop_reason, usage, error, self.posts)

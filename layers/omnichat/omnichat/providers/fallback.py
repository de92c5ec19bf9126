"""Fallback chains, run: the asked model, then each model of its chain in turn, for as
long as nothing has been streamed yet.

A candidate is left for the next only on an error raised before its first event that
another model may not share: throttled, unavailable or not ready, timed out (the
retryable ones), or another server-side failure (a 5xx); the provider has already spent
its own retries by then. A refusal of the request itself (validation, context too long,
access, unknown model), or any error once an event was passed on, is the answer's error:
an answer never changes model half-way. `Finish.model` names the model
that answered when it is not the asked one, and its times count from the first try, so
the usage row shows what the user waited."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from omnichat.config import Settings
from omnichat.providers import registry, structured
from omnichat.providers.errors import ProviderError
from omnichat.providers.types import ChatRequest, Finish, ModelInfo, StreamEvent

if TYPE_CHECKING:
    from omnichat.catalog.catalog import ResolvedModel

log = logging.getLogger("omnichat.fallback")


@dataclass(frozen=True)
class Candidate:
    model_id: str  # as the user or the admin named it (`preset/…` for a preset)
    provider_name: str
    name: str  # the provider's own model name
    provider: Any  # a ChatProvider
    # Ollama: the admin's keep-alive for this model when it answers as a fallback (the
    # asked model's travels on the request); None: the server's default.
    keep_alive: str | int | None = None


def switches(exc: ProviderError) -> bool:
    """Worth another model: the provider is throttled, down, not ready or slow, or failed on
    its side (5xx); not a refusal of this request (4xx), which another model would share."""
    return exc.retryable or exc.status >= 500


def provider_of(model_id: str) -> str:
    return model_id.partition("/")[0]


class FallbackProvider:
    """A ChatProvider for one model and its chain. `answered` is the candidate that sent
    the first event (None until then), for a surface that labels its stream early."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        if not candidates:
            raise ValueError("a fallback chain needs at least the asked model")
        self.candidates = tuple(candidates)
        self.name = self.candidates[0].provider_name
        self.answered: Candidate | None = None

    def _usable(self, request: ChatRequest) -> list[Candidate]:
        first = self.candidates[0]
        # Provider-specific extras (Ollama options, Bedrock request fields) mean nothing to
        # the other provider: such a request stays on its own provider's models. A model
        # that cannot give the structured output the request asks for (its family, or a
        # schema it cannot take) is skipped, not called to refuse: the asked model could.
        return [c for c in self.candidates
                if c is first or ((not request.extra or c.provider_name == first.provider_name)
                                  and structured.format_refusal(c.provider_name, c.name, request) is None)]

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        self.answered = None
        candidates = self._usable(request)
        for index, candidate in enumerate(candidates):
            offset_ms = (time.perf_counter() - started) * 1000
            # Each model is called with its own keep-alive, so answering for another never
            # shortens how long the admin keeps it loaded.
            keep_alive = request.keep_alive if candidate is self.candidates[0] else candidate.keep_alive
            events = candidate.provider.stream_chat(replace(request, model=candidate.name, keep_alive=keep_alive))
            try:
                async for event in events:
                    if self.answered is None:
                        self.answered = candidate
                    if isinstance(event, Finish) and index:
                        event = replace(event, model=candidate.model_id, duration_ms=event.duration_ms + offset_ms,
                                        ttft_ms=None if event.ttft_ms is None else event.ttft_ms + offset_ms)
                    yield event
                return
            except ProviderError as exc:
                if self.answered is not None or not switches(exc) or index == len(candidates) - 1:
                    raise
                exc.log(log, f"{candidate.model_id}, before its first token (the next in its chain, "
                             f"{candidates[index + 1].model_id}, answers instead)")
            finally:
                await events.aclose()

    async def list_models(self) -> list[ModelInfo]:
        return []  # a chain is not a listing: the catalog lists the providers themselves


def for_model(settings: Settings, model: ResolvedModel) -> FallbackProvider:
    """The chat provider for a resolved model: its own, then its (usable) chain's."""
    first = Candidate(model.id, model.provider, model.name, registry.get_provider(settings, model.provider))
    kept = dict(model.fallback_keep_alive)
    rest = [Candidate(f, provider_of(f), f.partition("/")[2], registry.get_provider(settings, provider_of(f)),
                      kept.get(f))
            for f in model.fallbacks
            if f != f"{model.provider}/{model.name}"]  # a preset's own base again is no fallback
    return FallbackProvider([first, *rest])


def answered_by(provider: Any, finish: Finish | None, asked_id: str, asked_provider: str) -> tuple[str, str]:
    """(model id, provider) of the model that answered: known from the first event on, so
    also for an answer stopped or failed later; else the asked model."""
    answered = provider.answered if isinstance(provider, FallbackProvider) else None
    if answered is not None:
        return answered.model_id, answered.provider_name
    if finish is not None and finish.model:
        return finish.model, provider_of(finish.model)
    return asked_id, asked_provider

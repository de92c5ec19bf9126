"""One gateway call to a model: which model it may use, and its row in the request log.

Database work runs on a worker thread (the event loop keeps streaming other answers);
the usage row is written once, when the call ends however it ends: `complete`, `error`
(with the error's code) or `stopped` (the client went away)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread

from omnichat import usage
from omnichat.auth.principal import Principal
from omnichat.billing import calls as billing
from omnichat.billing.reservations import Ask, reserve_alone
from omnichat.catalog import catalog
from omnichat.catalog.catalog import ResolvedModel
from omnichat.config import Settings
from omnichat.db import lite
from omnichat.providers import registry
from omnichat.providers.fallback import FallbackProvider, answered_by
from omnichat.providers.types import Finish, Usage

log = logging.getLogger("omnichat.gateway")


async def resolve_model(settings: Settings, principal: Principal, model_id: str) -> ResolvedModel:
    """The model if this principal may use it; an unknown or hidden model is a 404. A bare
    name ("smollm2:135m") stands for the one model it names."""
    model_id = await catalog.full_id(settings, principal, model_id)

    def work(db: lite.Db) -> ResolvedModel:
        return catalog.resolve(db, settings, principal, model_id)

    return await to_thread.run_sync(lite.run, settings.resolved_database_url, work)


def provider_for(settings: Settings, model: ResolvedModel) -> Any:
    return registry.get_provider(settings, model.provider)


@dataclass
class CallLog:
    settings: Settings
    principal: Principal
    model: ResolvedModel
    chain: FallbackProvider | None = None  # the model and its fallbacks, when the call is a chat
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    recorded: bool = False
    reservation_id: str | None = None  # the call's budget reservation, settled by its usage row

    async def reserve(self, ask: Ask) -> None:
        """Admit the call within its budgets (a 429 `budget_exceeded` when it does not fit)."""
        self.reservation_id = await to_thread.run_sync(
            reserve_alone, self.settings.resolved_database_url, self.principal.user_id, self.principal.api_key_id, ask)

    def answering(self, finish: Finish | None = None) -> tuple[str, str]:
        """(model id, provider) of the model that answers: a fallback's when one took over."""
        return answered_by(self.chain, finish, self.model.id, self.model.provider)

    def token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    async def record(self, outcome: str, finish: Finish | None = None, error_code: str | None = None,
                     used: Usage | None = None) -> None:
        if self.recorded:
            return
        self.recorded = True
        now = time.perf_counter()
        used = finish.usage if finish is not None else (used or Usage())
        ttft = finish.ttft_ms if finish is not None and finish.ttft_ms is not None else (
            None if self.first_token_at is None else (self.first_token_at - self.started) * 1000)
        model_id, provider = self.answering(finish)
        call = usage.CallRecord(
            user_id=self.principal.user_id, api_key_id=self.principal.api_key_id, model=model_id,
            provider=provider, outcome=outcome, source="gateway",
            input_tokens=used.input_tokens, output_tokens=used.output_tokens,
            cache_read_tokens=used.cache_read_tokens, cache_write_tokens=used.cache_write_tokens,
            ttft_ms=ttft, duration_ms=(now - self.started) * 1000, error_code=(error_code or None) and error_code[:64],
            priced_model=billing.priced_by(self.chain, billing.own_id(self.model)), reservation_id=self.reservation_id,
        )

        try:
            await to_thread.run_sync(lite.run, self.settings.resolved_database_url, lambda db: usage.record(db, call))
        except Exception:  # the answer was given: a lost log row must not turn it into an error
            log.exception("could not record gateway usage for %s", self.model.id)

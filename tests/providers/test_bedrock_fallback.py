"""providers/fallback.py over real providers: the Bedrock emulator's faults (throttling,
model not ready, a stall past the read timeout, a break after the first tokens) and an
Ollama that is not there. The chain moves on only before the first event and only on a
retryable error; the answering model and the full wait are in Finish."""

from __future__ import annotations

from typing import Any

import pytest

from omnichat.config import Settings
from omnichat.providers.errors import InvalidRequest, ProviderUnavailable, Throttled
from omnichat.providers.fallback import Candidate, FallbackProvider, answered_by
from omnichat.providers.ollama import OllamaProvider
from omnichat.providers.types import ChatRequest, Finish, Message, TextDelta
from tests.providers.conftest_bedrock import (  # noqa: F401  (fixtures)
    aws_env,
    bedrock,
    bedrock_server,
    closed_port,
    collect,
    provider_for,
    run,
)

HAIKU, NOVA, LITE = "anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0"


def chain_of(provider: Any, *names: str) -> FallbackProvider:
    return FallbackProvider([Candidate(f"bedrock/{n}", "bedrock", n, provider) for n in names])


def ask(text: str = "hi [[tokens=6]]", **kwargs: Any) -> ChatRequest:
    return ChatRequest(model="ignored: each candidate's own name is sent", messages=(Message.text("user", text),),
                       **kwargs)


def called(server: Any) -> list[str]:
    return [e["modelId"] for e in server.state.journal.entries("ConverseStream")]


@pytest.mark.parametrize("code", ["ThrottlingException", "ModelNotReadyException", "ServiceUnavailableException",
                                  "InternalServerException", "ModelTimeoutException", "ModelErrorException"])
def test_a_retryable_refusal_moves_to_the_next_model(bedrock, code):
    bedrock.state.faults.error(code, model_id=HAIKU)
    chain = chain_of(provider_for(bedrock.url), HAIKU, NOVA)
    events = run(lambda: collect(chain.stream_chat(ask())))
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.model == f"bedrock/{NOVA}"
    assert "".join(e.text for e in events if isinstance(e, TextDelta))
    assert called(bedrock) == [HAIKU, NOVA]
    assert answered_by(chain, finish, f"bedrock/{HAIKU}", "bedrock") == (f"bedrock/{NOVA}", "bedrock")


def test_the_asked_model_answering_leaves_finish_model_unset(bedrock):
    chain = chain_of(provider_for(bedrock.url), HAIKU, NOVA)
    finish = run(lambda: collect(chain.stream_chat(ask())))[-1]
    assert finish.model is None and chain.answered is not None and chain.answered.name == HAIKU
    assert called(bedrock) == [HAIKU]


def test_a_timeout_before_the_first_token_moves_on_and_finish_counts_the_wait(bedrock):
    bedrock.state.faults.stall(1.5, model_id=HAIKU)
    chain = chain_of(provider_for(bedrock.url, provider_read_timeout_s=0.5), HAIKU, NOVA)
    finish = run(lambda: collect(chain.stream_chat(ask())))[-1]
    assert finish.model == f"bedrock/{NOVA}"
    assert finish.ttft_ms is not None and finish.ttft_ms >= 500  # the primary's wait is the user's wait too
    assert called(bedrock) == [HAIKU, NOVA]


def test_each_model_in_turn_and_the_last_error_when_all_fail(bedrock):
    bedrock.state.faults.error("ThrottlingException", model_id=HAIKU)
    bedrock.state.faults.error("ServiceUnavailableException", model_id=NOVA)
    chain = chain_of(provider_for(bedrock.url), HAIKU, NOVA, LITE)
    assert run(lambda: collect(chain.stream_chat(ask())))[-1].model == f"bedrock/{LITE}"
    bedrock.state.journal.clear()
    bedrock.state.faults.error("ThrottlingException", times=3)
    with pytest.raises(Throttled):
        run(lambda: collect(chain.stream_chat(ask())))
    assert called(bedrock) == [HAIKU, NOVA, LITE]


def test_an_error_after_the_first_event_is_the_answers_error(bedrock):
    bedrock.state.faults.midstream(after_deltas=2, code="throttlingException", model_id=HAIKU)
    chain = chain_of(provider_for(bedrock.url), HAIKU, NOVA)
    received: list[Any] = []

    async def body() -> None:
        async for event in chain.stream_chat(ask("go [[tokens=20]]")):
            received.append(event)

    with pytest.raises(Throttled) as failure:
        run(body)
    assert received and failure.value.partial_text
    assert called(bedrock) == [HAIKU]


def test_an_error_that_is_not_retryable_is_the_answers_error(bedrock):
    bedrock.state.faults.error("ValidationException", message="bad", model_id=HAIKU)
    with pytest.raises(InvalidRequest):
        run(lambda: collect(chain_of(provider_for(bedrock.url), HAIKU, NOVA).stream_chat(ask())))
    assert called(bedrock) == [HAIKU]


def test_an_ollama_that_is_down_falls_back_to_bedrock(bedrock):
    ollama = OllamaProvider(Settings(ollama_host=f"http://127.0.0.1:{closed_port()}", provider_max_attempts=1))
    chain = FallbackProvider([Candidate("ollama/smollm2:135m", "ollama", "smollm2:135m", ollama),
                              Candidate(f"bedrock/{NOVA}", "bedrock", NOVA, provider_for(bedrock.url))])
    finish = run(lambda: collect(chain.stream_chat(ask())))[-1]
    assert finish.model == f"bedrock/{NOVA}" and answered_by(chain, finish, "ollama/x", "ollama")[1] == "bedrock"
    # Provider-specific extras stay on their provider: no Bedrock model for an Ollama option.
    with pytest.raises(ProviderUnavailable):
        run(lambda: collect(chain.stream_chat(ask(extra={"options": {"num_ctx": 512}}))))


def test_a_closed_stream_closes_the_answering_models_stream(bedrock):
    bedrock.state.faults.error("ThrottlingException", model_id=HAIKU)
    chain = chain_of(provider_for(bedrock.url), HAIKU, NOVA)

    async def first_then_close() -> Any:
        events = chain.stream_chat(ask("go [[tokens=200]]"))
        first = await events.__anext__()
        await events.aclose()
        return first

    assert isinstance(run(first_then_close), TextDelta) and chain.answered.name == NOVA


def test_a_resolved_model_runs_its_own_name_then_its_chain_never_itself_again():
    from omnichat.catalog.catalog import ModelSettings, ResolvedModel
    from omnichat.providers.fallback import for_model

    preset = ResolvedModel("preset/helper", "bedrock", HAIKU, ModelSettings(),
                           fallbacks=(f"bedrock/{HAIKU}", f"bedrock/{NOVA}", "ollama/smollm2:135m"))
    chain = for_model(Settings(bedrock_enabled=True, aws_region="us-east-1"), preset)
    assert [(c.model_id, c.provider_name, c.name) for c in chain.candidates] == [
        ("preset/helper", "bedrock", HAIKU), (f"bedrock/{NOVA}", "bedrock", NOVA),
        ("ollama/smollm2:135m", "ollama", "smollm2:135m")]

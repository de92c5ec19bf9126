"""Retries of Bedrock calls (omnichat.aws.retry, botocore's standard mode) against the
Bedrock emulator's fault injection: how many attempts reach "Bedrock" (its request
journal), which errors are tried again, and the delays, recorded by an injected sleep
(never waited for)."""

from __future__ import annotations

from typing import Any

import pytest

from omnichat.aws.retry import RetryPolicy, RetryQuota
from omnichat.providers.bedrock import BedrockProvider
from omnichat.providers.errors import ProviderError, ProviderTimeout, ProviderUnavailable, Throttled
from omnichat.providers.types import Finish, TextDelta
from tests.providers.conftest_bedrock import aws_env, bedrock, bedrock_server, closed_port, run  # noqa: F401  (fixtures)
from tests.providers.test_bedrock_provider import (
    HAIKU,
    ask,
    provider_for,
    stream,
    stream_until_error,
    text_of,
)

TITAN = "amazon.titan-embed-text-v2:0"


def recording(url: str, attempts: int = 3, rand: float | None = None, quota: RetryQuota | None = None,
              **settings: Any) -> tuple[BedrockProvider, list[float]]:
    """A provider whose client records its backoff delays instead of sleeping them;
    `settings` are Settings fields."""
    delays: list[float] = []
    provider = provider_for(url, provider_max_attempts=attempts, **settings)
    policy = provider.client().retry
    policy.sleep = delays.append
    if rand is not None:
        policy.rand = lambda: rand
    if quota is not None:
        policy.quota = quota
    return provider, delays


def calls(bedrock: Any, operation: str = "ConverseStream") -> int:
    return len(bedrock.state.journal.entries(operation))


def test_three_attempts_by_default_and_throttles_back_off_from_one_second(bedrock) -> None:
    assert provider_for(bedrock.url, provider_max_attempts=3).client().retry.max_attempts == 3
    assert RetryPolicy().max_attempts == 3
    bedrock.state.faults.error("ThrottlingException", times=2)
    provider, delays = recording(bedrock.url, rand=1.0)
    events = stream(provider, ask("x [[tokens=2]]"))
    assert isinstance(events[-1], Finish) and events[-1].stop_reason == "end_turn"
    assert calls(bedrock) == 3 and delays == [1.0, 2.0]  # rand * min(1 s * 2**(n-1), 20 s)


def test_throttling_exhausts_the_attempts_then_is_throttled(bedrock) -> None:
    bedrock.state.faults.error("ThrottlingException", times=5)
    provider, delays = recording(bedrock.url)
    _, error = stream_until_error(provider, ask("x"))
    assert type(error) is Throttled and calls(bedrock) == 3
    assert len(delays) == 2 and 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0  # full jitter


@pytest.mark.parametrize("code", ["ServiceUnavailableException", "InternalServerException", "ModelNotReadyException"])
def test_transient_errors_back_off_from_fifty_milliseconds(bedrock, code) -> None:
    bedrock.state.faults.error(code, times=2)
    provider, delays = recording(bedrock.url, rand=1.0)
    assert text_of(stream(provider, ask("x [[tokens=2]]")))
    assert calls(bedrock) == 3 and delays == pytest.approx([0.05, 0.1])


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException",
                                  "ModelTimeoutException", "ModelErrorException", "ServiceQuotaExceededException"])
def test_client_errors_are_not_retried(bedrock, code) -> None:
    bedrock.state.faults.error(code, times=3)
    provider, delays = recording(bedrock.url)
    stream_until_error(provider, ask("x"))
    assert calls(bedrock) == 1 and delays == []


def test_retry_after_header_is_honoured_within_five_seconds_of_the_backoff(bedrock) -> None:
    bedrock.state.faults.error("ThrottlingException", retry_after_ms=1500)
    bedrock.state.faults.error("ThrottlingException", retry_after_ms=60_000)
    provider, delays = recording(bedrock.url, rand=0.5)
    assert text_of(stream(provider, ask("x [[tokens=2]]")))
    # max(t, min(retry_after, t + 5 s)) with t = 0.5 * 1 s, then t = 0.5 * 2 s
    assert delays == pytest.approx([1.5, 6.0])


def test_a_throttle_inside_the_stream_before_the_first_token_is_retried(bedrock) -> None:
    bedrock.state.faults.midstream(after_deltas=0, code="throttlingException")
    provider, delays = recording(bedrock.url, rand=1.0)
    events = stream(provider, ask("x [[tokens=4]]"))
    assert calls(bedrock) == 2 and delays == [1.0]
    assert len([e for e in events if isinstance(e, TextDelta)]) == 4  # nothing twice


def test_nothing_is_retried_after_the_first_token(bedrock) -> None:
    bedrock.state.faults.midstream(after_deltas=2, code="throttlingException")
    provider, delays = recording(bedrock.url)
    received, error = stream_until_error(provider, ask("x [[tokens=6]]"))
    assert type(error) is Throttled and error.partial_text == text_of(received) != ""
    assert calls(bedrock) == 1 and delays == []


def test_a_model_stream_error_before_the_first_token_is_not_retried(bedrock) -> None:
    bedrock.state.faults.midstream(after_deltas=0, code="modelStreamErrorException")
    provider, delays = recording(bedrock.url)
    _, error = stream_until_error(provider, ask("x"))
    assert type(error) is ProviderError and calls(bedrock) == 1 and delays == []


def test_a_model_that_sent_nothing_for_a_whole_read_timeout_is_not_asked_again(bedrock) -> None:
    """The person would wait the read timeout once per attempt (3 × 120 s by default) before
    the answer fails or a fallback model takes over."""
    bedrock.state.faults.stall(2.0, times=3)
    provider, delays = recording(bedrock.url, provider_read_timeout_s=0.3)
    _, error = stream_until_error(provider, ask("x"))
    assert type(error) is ProviderTimeout and calls(bedrock) == 1 and delays == []


def test_a_refused_connection_is_still_tried_again(aws_env) -> None:
    provider, delays = recording(f"http://127.0.0.1:{closed_port()}")
    _, error = stream_until_error(provider, ask("x"))
    assert type(error) is ProviderUnavailable and len(delays) == 2


def test_an_empty_retry_quota_stops_retrying(bedrock) -> None:
    quota = RetryQuota(capacity=19)  # one transient retry (14) and one throttled one (5)
    provider, delays = recording(bedrock.url, quota=quota)
    bedrock.state.faults.error("ServiceUnavailableException")
    bedrock.state.faults.error("ThrottlingException", times=3)
    stream_until_error(provider, ask("x"))
    assert calls(bedrock) == 3 and len(delays) == 2 and quota.available == 0
    stream_until_error(provider, ask("x"))  # the third throttle: no quota left, no retry
    assert calls(bedrock) == 4 and len(delays) == 2
    assert text_of(stream(provider, ask("x [[tokens=1]]"))) and quota.available == 1  # a success refills


def test_listing_and_embeddings_use_the_same_policy(bedrock) -> None:
    provider, delays = recording(bedrock.url, rand=1.0)
    control = provider.client("bedrock")  # the control plane's client: its own policy, same rules
    control.retry.sleep, control.retry.rand = delays.append, lambda: 1.0
    bedrock.state.faults.error("ThrottlingException", operations=frozenset({"ListFoundationModels"}))
    assert any(m.id == f"bedrock/{HAIKU}" for m in run(provider.list_models))
    bedrock.state.faults.error("ThrottlingException", operations=frozenset({"InvokeModel"}))
    vectors, _ = run(lambda: provider.embed(TITAN, ["x"]))
    assert len(vectors) == 1 and delays == [1.0, 1.0] and calls(bedrock, "InvokeModel") == 2

"""omnichat.aws.retry against botocore's standard retry mode, the library it stands in for
on the Lambda hot path: the same error tables, the same backoff for the same random
draw, the same quota arithmetic."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.retries import quota as boto_quota
from botocore.retries import standard

from omnichat.aws import retry

SERVICES = ("bedrock-runtime", "bedrock", "secretsmanager", "apigatewaymanagementapi")


def test_error_tables_are_botocores() -> None:
    assert retry.THROTTLING_CODES == set(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES)
    assert retry.TRANSIENT_CODES == set(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES)
    assert retry.TRANSIENT_STATUS == set(standard.TransientRetryableChecker._TRANSIENT_STATUS_CODES)
    assert retry.DEFAULT_MAX_ATTEMPTS == standard.DEFAULT_MAX_ATTEMPTS


def _modeled_retryable() -> dict[str, bool]:
    """Error shapes marked `retryable` in the service models of the APIs the layer calls."""
    found: dict[str, bool] = {}
    data = Path(botocore.__file__).parent / "data"
    for service in SERVICES:
        for model in (data / service).glob("*/service-2.json*"):
            raw = gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes()
            for name, shape in json.loads(raw)["shapes"].items():
                if shape.get("exception") and "retryable" in shape:
                    found[name] = bool(shape["retryable"].get("throttling"))
    return found


def test_modeled_retryable_errors_are_the_service_models() -> None:
    modeled = _modeled_retryable()
    assert set(modeled) == retry.MODELED_RETRYABLE
    assert not any(modeled.values())  # none is a throttle: they back off as transient errors


def _context(status: int | None, code: str | None, exc: Exception | None = None, headers: dict | None = None,
             attempt: int = 1) -> standard.RetryContext:
    class Http:
        status_code = status

    response = Http() if status is not None else None
    if response is not None:
        response.headers = headers or {}  # type: ignore[attr-defined]
    parsed = {"Error": {"Code": code}} if code else ({} if status is not None else None)
    return standard.RetryContext(attempt_number=attempt, http_response=response, parsed_response=parsed,
                                 caught_exception=exc, operation_model=_converse_stream())


@functools.cache
def _converse_stream() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("ConverseStream")


CASES: list[tuple[int | None, str | None, Exception | None]] = [
    (429, "ThrottlingException", None), (400, "Throttling", None), (503, "SlowDown", None),
    (429, "LimitExceededException", None), (400, "RequestTimeoutException", None),
    (500, "InternalServerException", None), (503, "ServiceUnavailableException", None), (502, None, None),
    (504, None, None), (400, "ValidationException", None), (403, "AccessDeniedException", None),
    (404, "ResourceNotFoundException", None), (408, "ModelTimeoutException", None),
    (424, "ModelErrorException", None), (400, "ServiceQuotaExceededException", None), (410, "GoneException", None),
    (413, "PayloadTooLargeException", None), (429, "TooManyRequestsException", None),
    (429, "ModelNotReadyException", None),
    (None, None, EndpointConnectionError(endpoint_url="http://x")),
    (None, None, ConnectionClosedError(endpoint_url="x")),
    (None, None, ReadTimeoutError(endpoint_url="x")),
]


@pytest.mark.parametrize("status, code, exc", CASES)
def test_what_is_retried_is_what_botocore_retries(status: int | None, code: str | None,
                                                  exc: Exception | None) -> None:
    ours = retry.classify(status, code, OSError("dropped") if exc is not None else None)
    theirs = standard.StandardRetryConditions(max_attempts=3).is_retryable(_context(status, code, exc))
    assert (ours is not None) == theirs
    if ours is not None and code:
        throttling = standard.ThrottledRetryableChecker().is_retryable(_context(status, code))
        assert (ours == "throttling") == throttling


def test_in_stream_codes_are_classified_by_name_whatever_the_case() -> None:
    assert retry.classify(429, "throttlingException") == "throttling"
    assert retry.classify(None, "modelNotReadyException") == "transient"
    assert retry.classify(200, "modelStreamErrorException") is None


@pytest.mark.parametrize("draw", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 10])
@pytest.mark.parametrize("code, retry_after", [
    ("ThrottlingException", None), ("ServiceUnavailableException", None), ("ThrottlingException", "1500"),
    ("ThrottlingException", "90000"), ("InternalServerException", "250"), ("ThrottlingException", "soon"),
    ("ThrottlingException", "-5"),
])
def test_backoff_is_botocores(monkeypatch: pytest.MonkeyPatch, draw: float, attempt: int, code: str,
                              retry_after: str | None) -> None:
    if not hasattr(standard.ExponentialBackoff, "_DEFAULT_BACKOFF_CONFIG"):
        pytest.skip("this botocore predates throttling-aware backoff")
    monkeypatch.setattr(standard, "NEW_RETRIES_ENABLED", True)  # botocore's own switch to it
    status = 429 if "Throttl" in code else 503
    headers = {} if retry_after is None else {"x-amz-retry-after": retry_after}
    detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
    theirs = standard.ExponentialBackoff(random=lambda: draw, throttling_detector=detector).delay_amount(
        _context(status, code, headers=headers, attempt=attempt))
    kind = retry.classify(status, code)
    assert kind is not None
    assert retry.backoff(attempt, kind, retry_after, lambda: draw) == pytest.approx(theirs)


def test_quota_costs_are_botocores() -> None:
    checker: Any = standard.RetryQuotaChecker
    assert (retry.THROTTLING_COST, retry.RETRY_COST, retry.NO_RETRY_INCREMENT) == (
        checker._THROTTLING_RETRY_COST, checker._RETRY_COST_V2, checker._NO_RETRY_INCREMENT)
    assert retry.QUOTA_CAPACITY == boto_quota.RetryQuota.INITIAL_CAPACITY


def test_attempts_stop_at_the_maximum_and_when_the_quota_is_spent() -> None:
    delays: list[float] = []
    policy = retry.RetryPolicy(max_attempts=3, sleep=delays.append, rand=lambda: 1.0)
    attempts = policy.start()
    assert attempts.retry(503, None) and attempts.retry(429, "Throttling") and not attempts.retry(503, None)
    assert delays == [0.05, 2.0] and policy.quota.available == 500 - 14 - 5
    attempts.succeeded()
    assert policy.quota.available == 500 - 14  # a success gives back its last retry's cost
    assert not policy.start().retry(400, "ValidationException") and delays == [0.05, 2.0]
    spent = retry.RetryPolicy(quota=retry.RetryQuota(capacity=4), sleep=delays.append)
    assert not spent.start().retry(429, "ThrottlingException")  # 5 needed, 4 left

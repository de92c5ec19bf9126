"""When to retry a failed AWS call, and how long to wait first: botocore's standard retry
mode (`botocore/retries/standard.py`, with the throttling-aware backoff and
`x-amz-retry-after` of its 2026 retry behaviour, which the other AWS SDKs share), for
every call the layer signs itself (`client.py`: Bedrock, the Management API, Secrets
Manager). `tests/test_aws_retry.py` checks the tables and the formula against botocore's.

Retried: throttling (THROTTLING_CODES), transient errors (TRANSIENT_CODES, HTTP 500, 502,
503, 504, a dropped or refused connection, a timeout) and the errors a service model marks
retryable (MODELED_RETRYABLE). Nothing else: a 429 is a throttle only by its code.

Before attempt n + 1 (n = attempts made): `rand(0, 1) * min(scale * 2 ** (n - 1), 20 s)`,
scale 1 s after a throttle and 50 ms after a transient error; an `x-amz-retry-after`
header (milliseconds) raises it to `max(t, min(retry_after, t + 5 s))`.

A retry quota per client (botocore's RetryQuota): 500 units, a retry costs 5 after a
throttle and 14 otherwise, a success returns what its retry cost (1 if it needed none).
When a service is down every caller stops retrying after about 35 retries instead of
tripling the load on it.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["throttling", "transient"]

DEFAULT_MAX_ATTEMPTS = 3
MAX_BACKOFF_S = 20.0
THROTTLING_SCALE_S = 1.0
TRANSIENT_SCALE_S = 0.05
RETRY_AFTER_MAX_EXTRA_S = 5.0
RETRY_AFTER_HEADER = "x-amz-retry-after"

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "PriorRequestNotComplete", "EC2ThrottledException",
})
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
# Errors a service model of ours marks `retryable` (not as throttling): Bedrock Runtime's.
MODELED_RETRYABLE = frozenset({"ModelNotReadyException"})

QUOTA_CAPACITY = 500
THROTTLING_COST = 5
RETRY_COST = 14
NO_RETRY_INCREMENT = 1


def classify(status: int | None, code: str | None, exc: BaseException | None = None) -> Kind | None:
    """Whether a failure is worth another attempt, and of which kind. `status` and `code`
    describe an error answer (in-stream exception codes are camelCase: any casing works);
    `exc` a failure to get one."""
    if code:
        code = code[:1].upper() + code[1:]
        if code in THROTTLING_CODES:
            return "throttling"
        if code in TRANSIENT_CODES or code in MODELED_RETRYABLE:
            return "transient"
    if status in TRANSIENT_STATUS:
        return "transient"
    if isinstance(exc, (OSError, http.client.HTTPException)):  # refused, reset, timed out, cut off
        return "transient"
    return None


def backoff(attempts_made: int, kind: Kind, retry_after_ms: str | None = None,
            rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before the next attempt (see the module's docstring)."""
    scale = THROTTLING_SCALE_S if kind == "throttling" else TRANSIENT_SCALE_S
    delay = rand() * min(scale * 2.0 ** min(attempts_made - 1, 64), MAX_BACKOFF_S)  # no float overflow
    try:
        retry_after = int(retry_after_ms) / 1000 if retry_after_ms is not None else None
    except (ValueError, OverflowError):  # a malformed header is ignored, as botocore does
        retry_after = None
    if retry_after is not None and retry_after >= 0:
        return max(delay, min(retry_after, delay + RETRY_AFTER_MAX_EXTRA_S))
    return delay


class RetryQuota:
    """The client's retry budget (a token bucket that successes refill)."""

    def __init__(self, capacity: int = QUOTA_CAPACITY) -> None:
        self.capacity = self.available = capacity
        self._lock = threading.Lock()

    def acquire(self, amount: int) -> bool:
        with self._lock:
            if amount > self.available:
                return False
            self.available -= amount
            return True

    def release(self, amount: int) -> None:
        with self._lock:
            self.available = min(self.capacity, self.available + amount)


@dataclass
class RetryPolicy:
    """One client's policy. Tests pass `sleep` (to record the delays) and `rand`."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    quota: RetryQuota = field(default_factory=RetryQuota)
    sleep: Callable[[float], None] | None = None  # None: time.sleep, looked up at each call
    rand: Callable[[], float] = random.random

    def start(self, *, retry_timeouts: bool = True) -> Attempts:
        """One call's attempts; with `retry_timeouts=False` a read that timed out ends them."""
        return Attempts(self, retry_timeouts)


class Attempts:
    """The attempts of one call: `retry()` after each failure, `succeeded()` once it worked."""

    def __init__(self, policy: RetryPolicy, retry_timeouts: bool = True) -> None:
        self.policy = policy
        self.retry_timeouts = retry_timeouts
        self.made = 1  # the first attempt is under way
        self._cost: int | None = None

    def retry(self, status: int | None, code: str | None, exc: BaseException | None = None,
              retry_after_ms: str | None = None) -> bool:
        """After a failed attempt: waits and returns True when another attempt is due."""
        kind = classify(status, code, exc)
        if kind is None or self.made >= self.policy.max_attempts or (
                isinstance(exc, TimeoutError) and not self.retry_timeouts):
            return False
        cost = THROTTLING_COST if kind == "throttling" else RETRY_COST
        if not self.policy.quota.acquire(cost):
            return False
        self._cost = cost
        (self.policy.sleep or time.sleep)(backoff(self.made, kind, retry_after_ms, self.policy.rand))
        self.made += 1
        return True

    def succeeded(self) -> None:
        self.policy.quota.release(NO_RETRY_INCREMENT if self._cost is None else self._cost)
        self._cost = None

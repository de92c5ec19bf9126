"""Fault injection: make the next calls fail the ways Bedrock can fail.

Faults are queued in order; each call takes the first fault that matches its operation
(and model, when the fault names one) and uses up one of its `times`. So "throttle twice,
then succeed" is `faults.error("ThrottlingException", times=2)`, and "throttle once, then
break the stream" is an `error(...)` followed by a `midstream(...)`.

Usable in-process (`app.state.emulator.faults`) or over HTTP (`POST /_emulator/faults`
with the same fields as `Fault`, see admin.py).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Literal

from .errors import ERROR_STATUS, AwsError, canonical_code, default_message, stream_code

FaultKind = Literal["error", "midstream", "stall", "corrupt"]

# By default a fault strikes any runtime call; name `operations` to aim it.
RUNTIME_OPERATIONS = frozenset({"Converse", "ConverseStream", "InvokeModel"})
STREAM_OPERATIONS = frozenset({"ConverseStream"})
ALL_OPERATIONS = RUNTIME_OPERATIONS | {"ListFoundationModels", "ListInferenceProfiles"}


@dataclass
class Fault:
    kind: FaultKind
    times: int = 1
    # error: answer with this AWS error instead of calling the model.
    # midstream: the in-stream exception to send (any casing; sent camel-cased).
    code: str = ""
    message: str = ""
    # midstream / corrupt / stall: after how many contentBlockDelta events it strikes
    # (stall with after_deltas=0 sleeps before the response starts).
    after_deltas: int = 0
    seconds: float = 0.0  # stall length
    operations: frozenset[str] = field(default=RUNTIME_OPERATIONS)
    model_id: str | None = None  # only calls to this modelId (as sent), if set
    retry_after_ms: int | None = None  # error: sent as the x-amz-retry-after header

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError("times must be at least 1")
        self.operations = frozenset(self.operations)
        unknown = self.operations - ALL_OPERATIONS
        if unknown:
            raise ValueError(f"unknown operations: {sorted(unknown)}")
        if self.kind == "error":
            self.code = canonical_code(self.code or "InternalServerException")
            if self.code not in ERROR_STATUS:
                raise ValueError(f"unknown Bedrock error code {self.code!r}")
        elif self.kind == "midstream":
            self.code = stream_code(self.code or "modelStreamErrorException")
        elif self.kind == "stall":
            if self.seconds <= 0:
                raise ValueError("a stall needs seconds > 0")
        elif self.kind != "corrupt":
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.kind in ("midstream", "corrupt") and not self.operations <= STREAM_OPERATIONS:
            raise ValueError(f"{self.kind} faults only apply to ConverseStream")

    def aws_error(self) -> AwsError:
        """What an `error` fault answers with."""
        headers = {} if self.retry_after_ms is None else {"x-amz-retry-after": str(self.retry_after_ms)}
        return AwsError(self.code, self.message or default_message(self.code), headers=headers)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["operations"] = sorted(self.operations)
        return data


class FaultInjector:
    """A thread-safe queue of faults (tests call it from their own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def error(self, code: str, *, times: int = 1, message: str = "",
              operations: frozenset[str] = RUNTIME_OPERATIONS, model_id: str | None = None,
              retry_after_ms: int | None = None) -> Fault:
        """Fail the next `times` calls with an AWS error response (e.g. ThrottlingException),
        with an `x-amz-retry-after` header if `retry_after_ms` is given."""
        return self.add(Fault("error", times=times, code=code, message=message,
                              operations=operations, model_id=model_id, retry_after_ms=retry_after_ms))

    def midstream(self, after_deltas: int, code: str = "modelStreamErrorException", *,
                  message: str = "", times: int = 1, model_id: str | None = None) -> Fault:
        """Break the next streams with an in-stream exception after `after_deltas` deltas."""
        return self.add(Fault("midstream", times=times, code=code, message=message,
                              after_deltas=after_deltas, operations=STREAM_OPERATIONS,
                              model_id=model_id))

    def stall(self, seconds: float, *, after_deltas: int = 0, times: int = 1,
              operations: frozenset[str] = RUNTIME_OPERATIONS, model_id: str | None = None) -> Fault:
        """Sleep `seconds` before the first byte (or after `after_deltas` deltas)."""
        if after_deltas:
            operations = STREAM_OPERATIONS
        return self.add(Fault("stall", times=times, seconds=seconds, after_deltas=after_deltas,
                              operations=operations, model_id=model_id))

    def corrupt(self, after_deltas: int = 0, *, times: int = 1, model_id: str | None = None) -> Fault:
        """Send a frame with a bad message CRC after `after_deltas` deltas, then end."""
        return self.add(Fault("corrupt", times=times, after_deltas=after_deltas,
                              operations=STREAM_OPERATIONS, model_id=model_id))

    def take(self, operation: str, model_id: str | None = None) -> Fault | None:
        """The fault for this call, if any (uses up one of its `times`)."""
        with self._lock:
            for fault in self._faults:
                if operation in fault.operations and fault.model_id in (None, model_id):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

"""Running the template's Lambda functions in-process.

Each function's handler module is imported once, on its first invocation (a cold start),
as a module of its own (`_lambda_<LogicalId>`), with the layers on sys.path as Lambda puts
them at /opt/python and the function's folder as /var/task. Invocations run in one large
thread pool: many chats stream at once and a ws_chat invocation lasts minutes. The caller
waits at most its integration timeout; past it the handler keeps running, as a Lambda does
after API Gateway gives up on it.

Limits of sharing one process: concurrent invocations of one function share its module
globals (a real Lambda gives each its own sandbox), a handler that overruns its Timeout is
reported but not stopped, and all functions see one os.environ (environment.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from .spec import FunctionSpec

log = logging.getLogger("local.gateway")

# (function logical id, event) -> the handler's return value; replaces the real handlers
# (tests that walk template.yaml without a database).
InvokeOverride = Callable[[str, dict[str, Any]], Any]


class LambdaContext:
    """What the Python runtime passes as `context`."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{day}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class InvokeResult:
    ok: bool = False
    value: Any = None
    error_type: str = ""
    error_message: str = ""
    timed_out: bool = False       # the caller stopped waiting (integration timeout)
    duration_ms: float = 0.0


class FunctionRuntime:
    """One function: its module, imported once, and its handler."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._module: ModuleType | None = None

    def module(self) -> ModuleType:
        with self._lock:
            if self._module is None:
                self._module = self._import()
            return self._module

    def _import(self) -> ModuleType:
        spec = self.spec
        for folder in (*spec.layer_dirs, spec.code_dir):  # /opt/python, then /var/task
            if str(folder) not in sys.path:
                sys.path.append(str(folder))
        name = f"_lambda_{spec.logical_id}"
        module_spec = importlib.util.spec_from_file_location(name, spec.module_file)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {spec.module_file}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        started = time.perf_counter()
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        log.debug("%s: cold start (import) %.0f ms", spec.logical_id, (time.perf_counter() - started) * 1000)
        return module

    def handler(self) -> Callable[[dict[str, Any], Any], Any]:
        handler = getattr(self.module(), self.spec.attribute, None)
        if not callable(handler):
            raise AttributeError(f"{self.spec.module_file} has no callable {self.spec.attribute!r}")
        return handler

    def invoke(self, event: dict[str, Any]) -> Any:
        context = LambdaContext(self.spec)
        result = self.handler()(event, context)
        if context.get_remaining_time_in_millis() == 0:
            log.warning("%s ran past its Timeout of %ss: a real Lambda would have been stopped",
                        self.spec.logical_id, self.spec.timeout_s)
        # Lambda serializes the return value to JSON: what cannot be serialized is an error.
        return json.loads(json.dumps(result))


class Invoker:
    def __init__(self, functions: dict[str, FunctionSpec], max_workers: int = 1024,
                 override: InvokeOverride | None = None) -> None:
        self.runtimes = {lid: FunctionRuntime(spec) for lid, spec in functions.items()}
        self.override = override
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda")

    def runtime(self, function_id: str) -> FunctionRuntime:
        return self.runtimes[function_id]

    def _run(self, function_id: str, event: dict[str, Any]) -> InvokeResult:
        started = time.perf_counter()
        result = InvokeResult()
        try:
            _ensure_event_loop()
            if self.override is not None:
                result.value = json.loads(json.dumps(self.override(function_id, event)))
            else:
                result.value = self.runtimes[function_id].invoke(event)
            result.ok = True
        except Exception as exc:  # noqa: BLE001 - what the Lambda runtime reports as errorType/errorMessage
            result.error_type, result.error_message = type(exc).__name__, str(exc)
            log.error("%s raised %s: %s\n%s", function_id, result.error_type, result.error_message,
                      "".join(traceback.format_exception(exc)).rstrip())
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    async def invoke(self, function_id: str, event: dict[str, Any], timeout_s: float | None) -> InvokeResult:
        """Invoke in the pool; wait at most `timeout_s`, then let the handler run on."""
        future = asyncio.wrap_future(self.executor.submit(self._run, function_id, event))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            log.info("%s: still running after %.1fs; no longer waited for", function_id, timeout_s or 0)
            return InvokeResult(timed_out=True, duration_ms=(timeout_s or 0) * 1000)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _ensure_event_loop() -> None:
    """Give the worker thread an event loop, as a Lambda's main thread has one: handlers such
    as Mangum call asyncio.get_event_loop(), and a previous invocation on this thread may
    have ended with asyncio.run(), which leaves none."""
    policy = asyncio.get_event_loop_policy()
    try:
        if not policy.get_event_loop().is_closed():
            return
    except RuntimeError:
        pass
    policy.set_event_loop(policy.new_event_loop())

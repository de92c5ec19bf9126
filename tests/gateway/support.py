"""Helpers shared by the gateway tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

EVENTS = Path(__file__).resolve().parents[2] / "events"
T = TypeVar("T")

# Maps whose keys depend on the request, not on API Gateway: only their value types count.
OPEN_MAPS = {"headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters",
             "pathParameters", "stageVariables", "authorizer"}


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def assert_same_shape(expected: Any, actual: Any, where: str = "event") -> None:
    """`actual` has exactly the fields of the captured sample `expected`, with the same JSON
    types, recursively (maps listed in OPEN_MAPS: any keys, values of the sample's types)."""
    name = where.rsplit(".", 1)[-1]
    if isinstance(expected, dict) and name in OPEN_MAPS:
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        allowed = {_json_type(v) for v in expected.values()} or {"string"}
        for key, value in actual.items():
            assert _json_type(value) in allowed | {"null"}, f"{where}.{key}: {_json_type(value)}, expected {allowed}"
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        missing, extra = set(expected) - set(actual), set(actual) - set(expected)
        assert not missing and not extra, f"{where}: missing {sorted(missing)}, unexpected {sorted(extra)}"
        for key in expected:
            assert_same_shape(expected[key], actual[key], f"{where}.{key}")
        return
    assert _json_type(actual) == _json_type(expected), \
        f"{where}: {actual!r} is a {_json_type(actual)}, the sample has a {_json_type(expected)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array<" + ",".join(sorted({_json_type(v) for v in value})) + ">"
    return "object"


def wait_for(probe: Callable[[], T | None], timeout_s: float = 5.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def recorded(url: str, kind: str, **match: Any) -> list[dict[str, Any]]:
    """Events the fixture handlers received (kind: http, authorizer, $connect, echo, ...),
    filtered on requestContext fields."""
    events = httpx.get(f"{url}/debug/events", params={"kind": kind}, timeout=5).json()
    return [e for e in events if all(e.get("requestContext", {}).get(k) == v for k, v in match.items())]


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 20))

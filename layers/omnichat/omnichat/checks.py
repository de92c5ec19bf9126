"""Checking JSON input by hand: strict types (a string is not a number, a boolean is not a
number, `null` is "not given") and ranges, the first fault reported with the path of the
field at fault (`tools[0].function.name`).

Used where a request body must be checked without Pydantic, whose import would be a large
part of the function's cold start (bench/cold_start.py): the OpenAI gateway's bodies and
ws_chat's frames. Each surface turns `Invalid` into its own error shape."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
Check = Callable[[str, Any], T]


class Invalid(Exception):
    """`param` is missing (no `expected`), unknown (`unknown`), or not what was `expected`."""

    def __init__(self, param: str, expected: str | None = None, given: Any = None, unknown: bool = False) -> None:
        super().__init__(param)
        self.param, self.expected, self.unknown = param, expected, unknown
        shown = json.dumps(given)[:80] if isinstance(given, (str, int, float, bool)) else None
        self.detail = f" (got {shown})" if shown is not None else ""

    @property
    def missing(self) -> bool:
        return self.expected is None and not self.unknown

    def describe(self) -> str:
        if self.unknown:
            return f"{self.param}: no such field"
        if self.missing:
            return f"{self.param}: required"
        return f"{self.param}: expected {self.expected}{self.detail}"


class Fields:
    """A JSON object being read, with its path for error messages."""

    def __init__(self, data: dict[str, Any], path: str = "") -> None:
        self.data, self.path = data, path

    def param(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def required(self, name: str, check: Check[T]) -> T:
        if self.data.get(name) is None:
            raise Invalid(self.param(name))
        return check(self.param(name), self.data[name])

    def optional(self, name: str, check: Check[T], default: Any = None) -> Any:
        if name not in self.data:
            return default
        value = self.data[name]
        return None if value is None else check(self.param(name), value)

    def only(self, *names: str) -> None:
        """Refuse fields not in `names`: a misspelt option is an error, not ignored."""
        unknown = sorted(set(self.data) - set(names))
        if unknown:
            raise Invalid(self.param(unknown[0]), unknown=True)


def storable(text: str) -> bool:
    """Whether `text` can be stored and sent: JSON's `"\\ud800"` decodes to a lone
    surrogate, which no UTF-8 encoder (database driver, HTTP body) accepts, and PostgreSQL
    refuses NUL (`"\\u0000"`) in text."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def string(min_length: int = 0, max_length: int | None = None, pattern: re.Pattern[str] | None = None) -> Check[str]:
    def check(param: str, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(param, "a string", value)
        if not storable(value):
            raise Invalid(param, "text without NUL or lone surrogates")
        if len(value) < min_length or (max_length is not None and len(value) > max_length):
            raise Invalid(param, f"a string of {min_length} to {max_length} characters"
                          if max_length is not None else f"a string of at least {min_length} characters", value)
        if pattern is not None and not pattern.fullmatch(value):
            raise Invalid(param, f"a string matching {pattern.pattern}", value)
        return value
    return check


def one_of(*choices: str) -> Check[str]:
    def check(param: str, value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise Invalid(param, "one of " + ", ".join(repr(c) for c in choices), value)
        return value
    return check


def boolean(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(param, "a boolean", value)
    return value


def integer(minimum: int, maximum: int | None = None) -> Check[int]:
    def check(param: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(param, "an integer", value)
        if value < minimum or (maximum is not None and value > maximum):
            raise Invalid(param, f"an integer from {minimum} to {maximum}" if maximum is not None
                          else f"an integer of at least {minimum}", value)
        return value
    return check


def number(minimum: float, maximum: float, above_minimum: bool = False) -> Check[float]:
    """A number in [minimum, maximum], or (minimum, maximum] with `above_minimum`."""
    def check(param: str, value: Any) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Invalid(param, "a number", value)
        if not (minimum < value if above_minimum else minimum <= value) or value > maximum:
            low = "above" if above_minimum else "from"
            raise Invalid(param, f"a number {low} {minimum:g} to {maximum:g}", value)
        return float(value)
    return check


def json_object(param: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(param, "an object", value)
    return value


def array(item: Check[T], min_length: int = 0, max_length: int | None = None) -> Check[list[T]]:
    def check(param: str, value: Any) -> list[T]:
        if not isinstance(value, list):
            raise Invalid(param, "an array", value)
        if len(value) < min_length or (max_length is not None and len(value) > max_length):
            raise Invalid(param, f"an array of {min_length} to {max_length} items"
                          if max_length is not None else f"an array of at least {min_length} items")
        return [item(f"{param}[{i}]", v) for i, v in enumerate(value)]
    return check


def nested(read: Callable[[Fields], T]) -> Check[T]:
    """An object field read by `read`."""
    return lambda param, value: read(Fields(json_object(param, value), param))


# ---- JSON documents ----------------------------------------------------------------------
MAX_JSON_DEPTH = 100  # far deeper than any body we take; Python's own parsers fail near 1,000


class NotJson(ValueError):
    """A request body that cannot be used as JSON; the message says why, for the client."""


def load_json(raw: bytes | str) -> Any:
    """A request body parsed as JSON, refused (`NotJson`) when it is not UTF-8 JSON, is
    nested deeper than MAX_JSON_DEPTH, holds NaN, Infinity or a number of more than 4,300
    digits (Python's int limit), or a string that cannot be stored (`storable`). Every later
    step (validation, the database, the response) can then handle the document."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw  # strict: no raw surrogates
        if not isinstance(raw, bytes) and not storable(raw):
            raise NotJson("The JSON holds NUL or a lone surrogate")
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise NotJson(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except UnicodeDecodeError:
        raise NotJson("The request body is not UTF-8") from None
    except json.JSONDecodeError:
        raise NotJson("The request body is not valid JSON") from None
    except NotJson:
        raise
    except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
        raise NotJson("A number in the JSON has too many digits") from None
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise NotJson(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    if _SUSPECT_ESCAPE.search(text) and not all(storable(s) for s in _strings(data)):
        raise NotJson("A string in the JSON holds NUL or a lone surrogate (such as \\ud800)")
    return data


# Once the text itself is storable, a \u escape is the only way for JSON to carry NUL or a
# lone surrogate (the literal prefix keeps the scan fast).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


def _no_constant(name: str) -> Any:
    raise NotJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise NotJson(f"The number {text[:40]} is out of range")
    return value


def _deeper_than(data: Any, limit: int) -> bool:
    """Level by level, containers only (json.loads makes exact dicts and lists)."""
    level, depth = ([data] if type(data) in (dict, list) else []), 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for value in level:
            below.extend([v for v in (value.values() if type(value) is dict else value) if type(v) in (dict, list)])
        level, depth = below, depth + 1
    return False


def _strings(data: Any) -> Iterator[str]:
    """Every string of a JSON document, object keys included."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)

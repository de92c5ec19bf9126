"""A deterministic JSON value that conforms to a JSON schema: what the emulated models
(the deterministic engine, the Bedrock emulator's tool calls) answer when their output must
follow a schema. Small and repeatable rather than realistic: the same schema and seed give
the same value.

Covers what structured-output schemas use: `type` (one or a list), `enum`, `const`,
`properties` / `required` / `additionalProperties`, `items` / `prefixItems` with
`minItems`, string lengths and common `format`s, numeric bounds and `multipleOf`,
`anyOf` / `oneOf` (the first branch without a `$ref`), `allOf` (merged), and local `$ref`s
(`#/$defs/...`, `#/definitions/...`). A `pattern` is not searched for: use an enum.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
}
_MAX_DEPTH = 16  # a recursive schema ($ref to itself) stops here with its smallest value


def instance(schema: Any, seed: str = "") -> Any:
    """A value valid against `schema` (a dict, or true / false as in JSON schema)."""
    return _Maker(schema if isinstance(schema, dict) else {}, seed).make(schema, "", 0)


class _Maker:
    def __init__(self, root: dict[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed

    def pick(self, where: str, n: int) -> int:
        """A repeatable choice among n, varying with the seed and the place in the value."""
        digest = hashlib.sha256(f"{self.seed}\x00{where}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % max(1, n)

    def resolve(self, schema: dict[str, Any], hops: int = 0) -> dict[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#") or hops > _MAX_DEPTH:
            return schema  # not local, or a cycle of references (`{"$ref": "#"}`)
        target: Any = self.root
        for part in ref[1:].strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        return self.resolve({**(target if isinstance(target, dict) else {}), **merged}, hops + 1)

    def make(self, schema: Any, where: str, depth: int) -> Any:
        if schema is True or not isinstance(schema, dict):
            return {}
        schema = self.resolve(schema)
        for key in ("allOf",):
            if isinstance(schema.get(key), list):
                merged = {k: v for k, v in schema.items() if k != key}
                for part in schema[key]:
                    part = self.resolve(part) if isinstance(part, dict) else {}
                    merged = _merge(merged, part)
                schema = merged
        for key in ("anyOf", "oneOf"):
            options = [o for o in schema.get(key) or () if isinstance(o, dict)]
            if options:  # the first branch that does not recurse ($ref), if any: it ends
                choice = next((o for o in options if "$ref" not in o), options[0])
                rest = {k: v for k, v in schema.items() if k != key}
                return self.make(_merge(rest, self.resolve(choice)), where, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][self.pick(where, len(schema["enum"]))]
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or kind
            kind = kinds[0] if kinds else None
        if kind is None:
            kind = _implied_type(schema)
        if depth >= _MAX_DEPTH:
            return {"object": {}, "array": [], "string": "", "null": None}.get(kind, 0)
        if kind == "object":
            return self.object(schema, where, depth)
        if kind == "array":
            return self.array(schema, where, depth)
        if kind == "integer":
            return _integer(schema, self.pick(where, 100))
        if kind == "number":
            return _number(schema, self.pick(where, 1000) / 10)
        if kind == "boolean":
            return self.pick(where, 2) == 0
        if kind == "null":
            return None
        return self.string(schema, where)

    def object(self, schema: dict[str, Any], where: str, depth: int) -> dict[str, Any]:
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [n for n in schema.get("required") or [] if isinstance(n, str)]
        names = required or list(props)  # the required ones, or every property when none is
        out = {}
        for name in names:
            out[name] = self.make(props.get(name, _extra_schema(schema)), f"{where}/{name}", depth + 1)
        for i in range(len(out), int(schema.get("minProperties") or 0)):  # padding, where allowed
            out[f"key{i}"] = self.make(_extra_schema(schema), f"{where}/key{i}", depth + 1)
        return out

    def array(self, schema: dict[str, Any], where: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        low = int(schema.get("minItems") or 0)
        high = schema.get("maxItems")
        count = max(low, len(prefix) if high is None else min(len(prefix), int(high)))
        if count == 0 and items is not False and (high is None or int(high) > 0):
            count = 1  # one element shows the item schema at work
        out = []
        for i in range(count):
            item = prefix[i] if i < len(prefix) else items
            out.append(self.make(item, f"{where}/{i}", depth + 1))
        if schema.get("uniqueItems") and len({repr(v) for v in out}) < len(out):
            out = out[:1]
        return out

    def string(self, schema: dict[str, Any], where: str) -> str:
        text = _FORMATS.get(str(schema.get("format", "")), _WORDS[self.pick(where, len(_WORDS))])
        low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
        while len(text) < low:
            text += "x" * (low - len(text))
        return text if high is None else text[: int(high)]


def _implied_type(schema: dict[str, Any]) -> str:
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _extra_schema(schema: dict[str, Any]) -> Any:
    extra = schema.get("additionalProperties", {})
    return extra if isinstance(extra, dict) else {}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, **b}
    if isinstance(a.get("properties"), dict) and isinstance(b.get("properties"), dict):
        out["properties"] = {**a["properties"], **b["properties"]}
    if a.get("required") and b.get("required"):
        out["required"] = list(dict.fromkeys([*a["required"], *b["required"]]))
    return out


def _bounds(schema: dict[str, Any]) -> tuple[float, float]:
    low, high = -math.inf, math.inf
    if isinstance(schema.get("minimum"), (int, float)):
        low = schema["minimum"]
    if isinstance(schema.get("exclusiveMinimum"), (int, float)) and not isinstance(schema["exclusiveMinimum"], bool):
        low = max(low, schema["exclusiveMinimum"] + 1e-9)
    if isinstance(schema.get("maximum"), (int, float)):
        high = schema["maximum"]
    if isinstance(schema.get("exclusiveMaximum"), (int, float)) and not isinstance(schema["exclusiveMaximum"], bool):
        high = min(high, schema["exclusiveMaximum"] - 1e-9)
    return low, high


def _integer(schema: dict[str, Any], guess: int) -> int:
    low, high = _bounds(schema)
    step = schema.get("multipleOf")
    step = int(step) if isinstance(step, (int, float)) and step >= 1 and float(step).is_integer() else 1
    value = guess
    if value < low:
        value = math.ceil(low)
    if value > high:
        value = math.floor(high)
    value -= value % step
    if value < low:
        value += step
    return int(value)


def _number(schema: dict[str, Any], guess: float) -> float:
    low, high = _bounds(schema)
    value = min(max(guess, low), high)
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        value = math.ceil(value / step) * step
        if value > high:
            value = math.floor(high / step) * step
    return value

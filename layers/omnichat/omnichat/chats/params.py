"""Generation parameters: the one place that says which `params` a chat (or a model's
admin-set defaults, or one WebSocket send) may hold, and their ranges.

Every surface checks with these rules: ws/schemas.py (a send's `params`), the REST API
(a chat's `params`, a model's defaults, chat import), and /v1 (`max_tokens`). The REST
API's OpenAPI document describes `params` with `JSON_SCHEMA`, built from the same rules.
Values stored before a rule existed are read through `usable`, so a bad stored value is
dropped rather than sent to a provider (or, like `max_tokens` of 10^12, past the cap)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omnichat.checks import Check, Fields, Invalid, integer, json_object, number
from omnichat.errors import BadRequest

MAX_TOKENS = 32_000
MAX_CONTEXT_CHARS = 1_000_000


@dataclass(frozen=True)
class Rule:
    """A number in [minimum, maximum] (above `minimum` with `exclusive_minimum`)."""
    kind: str  # "integer" | "number"
    minimum: float
    maximum: float
    exclusive_minimum: bool = False

    def check(self) -> Check[Any]:
        if self.kind == "integer":
            return integer(int(self.minimum), int(self.maximum))
        return number(self.minimum, self.maximum, above_minimum=self.exclusive_minimum)

    def json_schema(self) -> dict[str, Any]:
        """`null` is "not given", as everywhere in omnichat.checks."""
        bound = "exclusiveMinimum" if self.exclusive_minimum else "minimum"
        return {"type": [self.kind, "null"], bound: self.minimum, "maximum": self.maximum}


# What one send may set (ws chat.send `params`), and /v1's `max_tokens`.
SEND_RULES: dict[str, Rule] = {
    "temperature": Rule("number", 0, 2),
    "top_p": Rule("number", 0, 1, exclusive_minimum=True),
    "max_tokens": Rule("integer", 1, MAX_TOKENS),
}
# What a chat, or a model's defaults, may hold: the above and the history's size budget.
CHAT_RULES: dict[str, Rule] = {**SEND_RULES, "context_chars": Rule("integer", 1, MAX_CONTEXT_CHARS)}

SEND_CHECKS: dict[str, Check[Any]] = {name: rule.check() for name, rule in SEND_RULES.items()}
CHAT_CHECKS: dict[str, Check[Any]] = {name: rule.check() for name, rule in CHAT_RULES.items()}
MAX_TOKENS_CHECK = SEND_CHECKS["max_tokens"]

JSON_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {name: rule.json_schema() for name, rule in CHAT_RULES.items()},
}


def checked(params: Any, where: str = "params") -> dict[str, Any]:
    """`params` as a chat may store them (`null` values dropped: "not given"), or a 400
    naming the first field at fault."""
    try:
        fields = Fields(json_object(where, params), where)
        fields.only(*CHAT_CHECKS)
        values = {name: fields.optional(name, check) for name, check in CHAT_CHECKS.items()}
    except Invalid as fault:
        raise BadRequest(fault.describe(), code="invalid_params") from None
    return {name: value for name, value in values.items() if value is not None}


def usable(params: Any) -> dict[str, Any]:
    """The stored `params` that pass today's rules; anything else is left out."""
    if not isinstance(params, dict):
        return {}
    out = {}
    for name, check in CHAT_CHECKS.items():
        try:
            if params.get(name) is not None:
                out[name] = check(name, params[name])
        except Invalid:
            continue
    return out

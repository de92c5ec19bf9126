"""Bedrock prompt caching: which models cache, and where a Converse request gets its
`cachePoint` blocks. The one table of caching models (`RULES`) lives here.

Bedrock caches the prompt prefix that ends at a `{"cachePoint": {"type": "default"}}`
block for 5 minutes, each hit resetting the clock. The prefix runs tools, then system,
then messages. A request may hold at most 4 checkpoints, and a checkpoint only counts when
the prefix since the previous one holds the model's minimum number of tokens ("the first
checkpoint can be defined after 1,024 tokens and the second after 2,048" on Claude 3.7
Sonnet); below it the call succeeds uncached. So checkpoints go:

  1. at the end of the tools (models that take checkpoints there: Claude, not Nova),
  2. at the end of the system prompt,
  3. at the end of the previous user turn: the prefix the previous call wrote, read now,
  4. at the end of the last user turn: written now, read by the next call,

each only where our estimate (characters / 4, counting text only) reaches the minimum
since the previous one. A checkpoint placed too early costs nothing but a slot.

Usage then reports `cacheReadInputTokens` (billed at a fraction of an input token) and
`cacheWriteInputTokens` (Claude: more than an input token) beside `inputTokens`, the
uncached rest; `read_price` / `write_price` hold those fractions for the admin's savings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_CACHE_POINTS = 4
CHARS_PER_TOKEN = 4
CACHE_TTL_S = 300  # Bedrock's default time to live, reset by every hit


@dataclass(frozen=True)
class CacheRule:
    min_tokens: int  # per checkpoint: tokens since the previous checkpoint
    tools: bool = True  # a checkpoint may end `toolConfig.tools`
    # What a token read from / written to the cache costs, as a fraction of an input token
    # (Bedrock's price list: Claude reads 10 %, writes 125 %; Nova reads 25 %, writes 100 %).
    read_price: float = 0.1
    write_price: float = 1.25


_NOVA = CacheRule(1000, tools=False, read_price=0.25, write_price=1.0)

# Foundation-model ids (after an inference profile's `us.` / `eu.` / … prefix), matched by
# their longest listed prefix. Claude 3.5 Sonnet v2 is left out: it caches only for accounts
# admitted to the preview, and refuses a cachePoint from any other.
RULES: dict[str, CacheRule] = {
    "anthropic.claude-3-7-sonnet": CacheRule(1024),
    "anthropic.claude-3-5-haiku": CacheRule(2048),
    "anthropic.claude-sonnet-4": CacheRule(1024),  # Sonnet 4 and 4.5
    "anthropic.claude-opus-4": CacheRule(1024),  # Opus 4 and 4.1
    "anthropic.claude-opus-4-5": CacheRule(4096),
    "anthropic.claude-haiku-4-5": CacheRule(4096),
    "amazon.nova-micro": _NOVA,
    "amazon.nova-lite": _NOVA,
    "amazon.nova-pro": _NOVA,
    "amazon.nova-premier": _NOVA,
}
# What the savings assume for a model not in the table that still reported cache tokens.
DEFAULT_PRICES = CacheRule(0)
_GEOS = ("us", "eu", "apac", "global", "us-gov", "ca", "jp", "au")


def foundation_id(model: str) -> str:
    """`us.anthropic.claude-…` or an ARN -> `anthropic.claude-…`."""
    model = model.rpartition("/")[2] if model.startswith("arn:") else model
    geo, dot, rest = model.partition(".")
    return rest if dot and geo in _GEOS else model


def rule_for(model: str) -> CacheRule | None:
    """The caching rule of a Bedrock model id (or profile, or ARN); None: it does not cache."""
    base = foundation_id(model)
    matches = [prefix for prefix in RULES if base.startswith(prefix)]
    return RULES[max(matches, key=len)] if matches else None


def estimate_tokens(value: Any) -> int:
    """A cautious token count: the characters of every text inside `value`, over 4. Images
    and other bytes count nothing, which can only skip a checkpoint, never waste one."""
    return _chars(value) // CHARS_PER_TOKEN


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(v) for v in value.values())
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    return 0


def cache_point() -> dict[str, Any]:
    return {"cachePoint": {"type": "default"}}


def add_cache_points(params: dict[str, Any]) -> int:
    """Add checkpoints to Converse `params` (as `converse_params` builds them) where the
    model caches; returns how many were added."""
    rule = rule_for(params["modelId"])
    if rule is None:
        return 0
    placed, since = 0, 0

    def mark(blocks: list[dict[str, Any]], allowed: bool = True) -> None:
        nonlocal placed, since
        if allowed and placed < MAX_CACHE_POINTS and since >= rule.min_tokens:
            blocks.append(cache_point())
            placed, since = placed + 1, 0

    tools = (params.get("toolConfig") or {}).get("tools")
    if tools:
        since += estimate_tokens(tools)
        mark(tools, rule.tools)
    if params.get("system"):
        since += estimate_tokens(params["system"])
        mark(params["system"])
    messages = params["messages"]
    last_two_users = [i for i, m in enumerate(messages) if m["role"] == "user"][-2:]
    for i, message in enumerate(messages):
        since += estimate_tokens(message["content"])
        if i in last_two_users:
            mark(message["content"])
    return placed

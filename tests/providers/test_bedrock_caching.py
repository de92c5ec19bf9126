"""Bedrock prompt caching, both ends: the emulator caches the way Bedrock's guide says (a
write above the model's minimum, a read of the same prefix within 5 minutes, at most 4
checkpoints, refusals on models without caching), and the provider places `cachePoint`
blocks so that a conversation reads on its later turns. Real boto3 and our provider talk
to the emulator over its wire protocol; the cache's clock is the only thing moved by hand."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.bedrock.catalog import DEFAULT_MODELS
from omnichat.config import Settings
from omnichat.providers.bedrock import BedrockProvider, converse_params
from omnichat.providers.bedrock_cache import MAX_CACHE_POINTS, RULES, add_cache_points, foundation_id, rule_for
from omnichat.providers.types import ChatRequest, Finish, Message, ToolSpec
from tests.providers.conftest_bedrock import (  # noqa: F401  (fixtures)
    aws_env,
    bedrock,
    bedrock_server,
    collect,
    run,
    runtime,
    user,
)

NOVA = "amazon.nova-micro-v1:0"  # caches; minimum 1,000 tokens; no checkpoint in tools
SONNET = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"  # caches; minimum 1,024
HAIKU_3 = "anthropic.claude-3-haiku-20240307-v1:0"  # does not cache
POINT = {"cachePoint": {"type": "default"}}
TOOL = {"toolSpec": {"name": "lookup", "description": "Look a word up",
                     "inputSchema": {"json": {"type": "object", "properties": {"word": {"type": "string"}}}}}}


def prose(words: int, seed: str = "w") -> str:
    """`words` distinct words of 6 characters (the emulator counts a word as a token)."""
    return " ".join(f"{seed}{i:05d}" for i in range(words))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(bedrock) -> Any:  # type: ignore[no-untyped-def]
    cache = bedrock.state.cache
    saved = cache.clock
    cache.clear()
    cache.clock = Clock()
    yield cache.clock
    cache.clock = saved
    cache.clear()


def provider_for(url: str) -> BedrockProvider:
    return BedrockProvider(Settings(bedrock_enabled=True, aws_region="us-east-1", bedrock_runtime_endpoint=url,
                                    bedrock_endpoint=url, provider_max_attempts=1))


def usage_of(answer: dict[str, Any]) -> tuple[int, int, int]:
    u = answer["usage"]
    assert u["totalTokens"] == u["inputTokens"] + u["outputTokens"] + u.get("cacheReadInputTokens", 0) \
        + u.get("cacheWriteInputTokens", 0)
    return u["inputTokens"], u.get("cacheReadInputTokens", 0), u.get("cacheWriteInputTokens", 0)


# ---- the emulator ---------------------------------------------------------------------
def test_a_prefix_is_written_once_then_read_within_the_ttl(runtime, clock) -> None:
    system = [{"text": prose(1200)}, POINT]
    first = runtime.converse(modelId=NOVA, system=system, messages=[user("one [[tokens=2]]")])
    assert usage_of(first) == (2, 0, 1200)  # "one [[tokens=2]]" is the uncached rest
    clock.now += 299
    second = runtime.converse(modelId=NOVA, system=system, messages=[user("two [[tokens=2]]")])
    assert usage_of(second) == (2, 1200, 0)
    clock.now += 299  # the hit reset the clock: still cached, 598 s after the write
    assert usage_of(runtime.converse(modelId=NOVA, system=system, messages=[user("three")]))[1] == 1200
    clock.now += 301
    assert usage_of(runtime.converse(modelId=NOVA, system=system, messages=[user("four")]))[1:] == (0, 1200)


def test_the_stream_reports_cache_usage_in_its_metadata_event(runtime, clock) -> None:
    system = [{"text": prose(1100)}, POINT]
    runtime.converse(modelId=NOVA, system=system, messages=[user("warm up")])
    answer = runtime.converse_stream(modelId=NOVA, system=system, messages=[user("again [[tokens=3]]")])
    [metadata] = [e["metadata"] for e in answer["stream"] if "metadata" in e]
    assert metadata["usage"]["cacheReadInputTokens"] == 1100
    assert metadata["usage"]["cacheWriteInputTokens"] == 0


def test_below_the_minimum_a_checkpoint_is_accepted_and_caches_nothing(runtime, clock) -> None:
    system = [{"text": prose(999)}, POINT]
    for _ in range(2):
        answer = runtime.converse(modelId=NOVA, system=system, messages=[user("hi")])
        assert "cacheReadInputTokens" not in answer["usage"] and usage_of(answer)[0] == 1000


def test_the_cache_is_keyed_by_model_and_exact_prefix(runtime, clock) -> None:
    system = [{"text": prose(1100)}, POINT]
    runtime.converse(modelId=NOVA, system=system, messages=[user("hi")])
    other_model = runtime.converse(modelId="amazon.nova-lite-v1:0", system=system, messages=[user("hi")])
    assert usage_of(other_model)[1:] == (0, 1100)
    changed = [{"text": prose(1100) + " more"}, POINT]
    assert usage_of(runtime.converse(modelId=NOVA, system=changed, messages=[user("hi")]))[1:] == (0, 1101)


def test_several_checkpoints_read_the_longest_cached_prefix_and_write_the_rest(runtime, clock) -> None:
    """Tools, system and messages in that order; each checkpoint a segment of >= 1,024."""
    system = [{"text": prose(1100, "s")}, POINT]
    tools = {"tools": [TOOL, POINT]}  # a small tool: this checkpoint does not count
    history = [user(prose(1030, "a") + " [[tokens=2]]")]
    history[0]["content"].append(POINT)
    first = runtime.converse(modelId=SONNET, system=system, toolConfig=tools, messages=history)
    tool_words = usage_of(first)[2] - 1100 - 1031
    assert tool_words > 0  # the tool definition is part of the first cached prefix
    later = [*history, {"role": "assistant", "content": [{"text": "ok"}]},
             {"role": "user", "content": [{"text": prose(1030, "b")}, POINT]}]
    second = runtime.converse(modelId=SONNET, system=system, toolConfig=tools, messages=later)
    assert usage_of(second) == (0, tool_words + 1100 + 1031, 1 + 1030)


@pytest.mark.parametrize(("case", "model", "kwargs", "message"), [
    ("model without caching", HAIKU_3, {"system": [{"text": "x"}, POINT]},
     "You invoked an unsupported model or your request did not allow prompt caching"),
    ("five checkpoints", NOVA, {"system": [{"text": "x"}, POINT, POINT, POINT],
                                "messages": [{"role": "user", "content": [{"text": "y"}, POINT, POINT]}]},
     "A maximum of 4 blocks with cache_control may be provided. Found 5."),
    ("checkpoint in Nova's tools", NOVA, {"toolConfig": {"tools": [TOOL, POINT]}},
     "#/toolConfig/tools/1: extraneous key [cachePoint] is not permitted"),
    ("unknown cachePoint type", NOVA, {"system": [{"text": "x"}, {"cachePoint": {"type": "forever"}}]},
     "The cachePoint at system.1 must be"),
    ("a ttl the model lacks", SONNET, {"system": [{"text": "x"}, {"cachePoint": {"type": "default", "ttl": "1h"}}]},
     "ttl"),
])
def test_bad_checkpoints_are_validation_errors(runtime, case, model, kwargs, message) -> None:
    kwargs.setdefault("messages", [user("hello")])
    with pytest.raises(ClientError) as err:
        runtime.converse(modelId=model, **kwargs)
    assert err.value.response["Error"]["Code"] == "ValidationException", case
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert message in err.value.response["Error"]["Message"], case


# ---- the provider's table and placement -------------------------------------------------
def test_the_providers_table_agrees_with_the_emulators_catalog() -> None:
    """Two descriptions of Bedrock that must not drift apart: each catalog model caches in
    both or in neither, with the same minimum and the same rule for tools."""
    for model in DEFAULT_MODELS:
        rule = rule_for(model.model_id)
        assert (rule is not None) == model.prompt_cache, model.model_id
        if rule is not None:
            assert (rule.min_tokens, rule.tools) == (model.cache_min_tokens, model.cache_tools), model.model_id


def test_model_ids_profiles_and_arns_find_their_rule() -> None:
    assert foundation_id("us.anthropic.claude-3-7-sonnet-20250219-v1:0") == "anthropic.claude-3-7-sonnet-20250219-v1:0"
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0"
    assert rule_for(arn) is RULES["amazon.nova-pro"]
    assert rule_for("global.anthropic.claude-opus-4-5-20251101-v1:0") is RULES["anthropic.claude-opus-4-5"]
    assert rule_for("anthropic.claude-opus-4-1-20250805-v1:0") is RULES["anthropic.claude-opus-4"]
    assert rule_for(HAIKU_3) is None and rule_for("meta.llama3-2-1b-instruct-v1:0") is None


def chat(model: str, *turns: str, system: str | None = None, tools: tuple[ToolSpec, ...] = ()) -> ChatRequest:
    roles = ("user", "assistant")
    messages = tuple(Message.text(roles[i % 2], t) for i, t in enumerate(turns))  # type: ignore[arg-type]
    return ChatRequest(model=model, messages=messages, system=system, tools=tools)


def points(params: dict[str, Any]) -> list[str]:
    """Where the checkpoints are: "tools", "system", or "messages.<i>"."""
    found = ["tools" for b in (params.get("toolConfig") or {}).get("tools", []) if "cachePoint" in b]
    found += ["system" for b in params.get("system", []) if "cachePoint" in b]
    return found + [f"messages.{i}" for i, m in enumerate(params["messages"]) for b in m["content"]
                    if "cachePoint" in b]


def test_checkpoints_end_the_system_prompt_and_the_last_two_user_turns() -> None:
    long = prose(1000)  # about 1,500 estimated tokens: chars / 4
    params = converse_params(chat(SONNET, long, "answer", long, "answer", long, system=long))
    assert points(params) == ["system", "messages.2", "messages.4"]
    assert points(converse_params(chat(SONNET, "short question", system=long))) == ["system"]
    assert points(converse_params(chat(SONNET, "hi", system="You are terse."))) == []  # all below 1,024
    assert points(converse_params(chat(HAIKU_3, long, system=long))) == []  # the model does not cache


def test_tools_get_a_checkpoint_on_claude_but_not_on_nova() -> None:
    big = ToolSpec("lookup", prose(1000), {"type": "object", "properties": {}})
    assert points(converse_params(chat(SONNET, "hi", tools=(big,)))) == ["tools"]
    # On Nova the tools are cached by the next checkpoint, the system prompt's or a turn's.
    assert points(converse_params(chat(NOVA, "hi", tools=(big,)))) == ["messages.0"]
    assert points(converse_params(chat(NOVA, "hi", system=prose(400), tools=(big,)))) == ["system"]


def test_never_more_than_four_checkpoints() -> None:
    long = prose(1000)
    big = ToolSpec("lookup", long, {"type": "object", "properties": {}})
    params = converse_params(chat(SONNET, long, "a", long, "b", long, system=long, tools=(big,)))
    assert len(points(params)) == MAX_CACHE_POINTS
    assert add_cache_points({"modelId": HAIKU_3, "messages": []}) == 0


# ---- end to end: provider -> emulator ------------------------------------------------------
def test_a_three_turn_conversation_reads_the_cache_on_turns_two_and_three(bedrock, clock) -> None:
    provider = provider_for(bedrock.url)
    system = prose(2000)
    turns: list[str] = []
    usages = []
    for question in ("first [[tokens=5]]", "second [[tokens=5]]", "third [[tokens=5]]"):
        turns.append(question)
        events = run(lambda: collect(provider.stream_chat(chat(SONNET, *turns, system=system))))
        finish = events[-1]
        assert isinstance(finish, Finish)
        usages.append(finish.usage)
        turns.append("".join(getattr(e, "text", "") for e in events[:-1]))
    assert usages[0].cache_read_tokens == 0 and usages[0].cache_write_tokens == 2000
    assert usages[1].cache_read_tokens >= 2000 and usages[2].cache_read_tokens >= 2000
    sent = bedrock.state.journal.last("ConverseStream")["body"]
    assert sent["system"][-1] == POINT

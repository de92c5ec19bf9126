"""Prompt caching seen through /v1 with the official `openai` SDK: a long system prompt on a
caching Bedrock model is written by the first call and read by the next, and the reads come
back as OpenAI's `usage.prompt_tokens_details.cached_tokens`, streamed (include_usage) or
not; the request log keeps cache reads and writes apart from the uncached input."""

from __future__ import annotations

import pytest

from tests.openai_gateway.conftest import THINKING_MODEL, usage_rows

SYSTEM_WORDS = 1500  # above Claude 3.7 Sonnet's 1,024-token minimum (the emulator: a word, a token)


@pytest.fixture
def system_prompt(backends) -> str:  # type: ignore[no-untyped-def]
    backends.emulator.cache.clear()
    return " ".join(f"rule{i:05d}" for i in range(SYSTEM_WORDS))


def ask(oai, system: str, question: str, **kwargs):  # type: ignore[no-untyped-def]
    return oai.chat.completions.create(model=THINKING_MODEL, messages=[
        {"role": "system", "content": system}, {"role": "user", "content": question}], **kwargs)


def test_cached_tokens_in_usage_and_in_the_request_log(oai, system_prompt, db_url) -> None:
    first = ask(oai, system_prompt, "first [[tokens=4]]")
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    second = ask(oai, system_prompt, "second [[tokens=4]]")
    assert second.usage.prompt_tokens_details.cached_tokens == SYSTEM_WORDS
    assert second.usage.prompt_tokens == SYSTEM_WORDS + 2  # cached or not, all of the prompt
    assert second.usage.total_tokens == second.usage.prompt_tokens + 4

    written, read = usage_rows(db_url)
    assert (written.cache_write_tokens, written.cache_read_tokens, written.input_tokens) == (SYSTEM_WORDS, 0, 2)
    assert (read.cache_write_tokens, read.cache_read_tokens, read.input_tokens) == (0, SYSTEM_WORDS, 2)


def test_the_streamed_usage_chunk_carries_cached_tokens(oai, system_prompt) -> None:
    ask(oai, system_prompt, "warm the cache [[tokens=2]]")
    chunks = list(ask(oai, system_prompt, "streamed [[tokens=3]]", stream=True,
                      stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage.completion_tokens == 3
    assert usage.prompt_tokens_details.cached_tokens == SYSTEM_WORDS

"""Fallback chains on /v1 with the official `openai` client: the Bedrock emulator throttles
the asked model, the next of its chain answers, and the response's `model` and the usage
row name the model that answered; streamed or not. A failure that is not retryable, or
one after the first token, is the answer's own error."""

from __future__ import annotations

import openai
import pytest

from tests.openai_gateway.conftest import BEDROCK_MODEL, TEXT_ONLY_MODEL, usage_rows

HAIKU_ID = BEDROCK_MODEL.removeprefix("bedrock/")
NOVA_ID = TEXT_ONLY_MODEL.removeprefix("bedrock/")
ASK = [{"role": "user", "content": "hello [[tokens=8]]"}]


@pytest.fixture
def chain(client, admin, backends):
    r = client.patch(f"/api/models/{BEDROCK_MODEL}", json={"fallbacks": [TEXT_ONLY_MODEL]},
                     headers=admin.account.headers)
    assert r.status_code == 200, r.text
    return backends.emulator


def called(emulator) -> list[str]:
    return [e["modelId"] for e in emulator.journal.entries() if e["operation"].startswith("Converse")]


def test_a_throttled_model_is_answered_by_its_fallback(oai, chain, db_url):
    chain.faults.error("ThrottlingException", times=10, model_id=HAIKU_ID)
    answer = oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK)
    assert answer.model == TEXT_ONLY_MODEL and answer.choices[0].message.content
    assert called(chain)[-1] == NOVA_ID and HAIKU_ID in called(chain)
    [row] = usage_rows(db_url)
    assert row.model == TEXT_ONLY_MODEL and row.provider == "bedrock" and row.outcome == "complete"


def test_a_streamed_answer_names_its_fallback_in_every_chunk(oai, chain, db_url):
    chain.faults.error("ThrottlingException", times=10, model_id=HAIKU_ID)
    chunks = list(oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK, stream=True))
    assert chunks and {c.model for c in chunks} == {TEXT_ONLY_MODEL}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    [row] = usage_rows(db_url)
    assert row.model == TEXT_ONLY_MODEL and row.outcome == "complete" and row.ttft_ms is not None


def test_no_fault_no_switch(oai, chain, db_url):
    answer = oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK)
    assert answer.model == BEDROCK_MODEL and called(chain) == [HAIKU_ID]
    assert usage_rows(db_url)[0].model == BEDROCK_MODEL


def test_an_error_that_is_not_retryable_never_switches(oai, chain, db_url):
    chain.faults.error("ValidationException", message="bad input", model_id=HAIKU_ID)
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK)
    assert called(chain) == [HAIKU_ID]
    [row] = usage_rows(db_url)
    assert row.model == BEDROCK_MODEL and row.outcome == "error"


def test_a_failure_after_the_first_token_never_switches(oai, chain, db_url):
    chain.faults.midstream(after_deltas=2, code="throttlingException", model_id=HAIKU_ID)  # retryable, but late
    long_answer = [{"role": "user", "content": "go [[tokens=30]]"}]
    stream = oai.chat.completions.create(model=BEDROCK_MODEL, messages=long_answer, stream=True)
    seen = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            seen.append(chunk.model)
    assert seen and set(seen) == {BEDROCK_MODEL}
    assert called(chain) == [HAIKU_ID]
    [row] = usage_rows(db_url)
    assert row.model == BEDROCK_MODEL and row.outcome == "error"


def test_every_model_throttled_is_the_last_ones_error(oai, chain, db_url):
    chain.faults.error("ThrottlingException", times=20)
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model=BEDROCK_MODEL, messages=ASK)
    assert set(called(chain)) == {HAIKU_ID, NOVA_ID}

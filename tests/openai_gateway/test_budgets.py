"""Budgets on /v1 with the official `openai` SDK: a call its budget does not cover is a
429 RateLimitError with Retry-After and the remaining budget; a key's own budget applies
to calls made with it; presets are priced at their base model; a stream stopped by the
client settles what it used."""

from __future__ import annotations

import time

import openai
import pytest

from omnichat.db import lite
from tests.openai_gateway.conftest import OLLAMA_MODEL, usage_rows


def put_budget(client, admin, path: str, **limits):  # type: ignore[no-untyped-def]
    r = client.put(f"/api/admin/budgets/{path}", json=limits, headers=admin.account.headers)
    assert r.status_code == 200, r.text


def reservations(db_url: str) -> int:
    return int(lite.run(db_url, lambda db: db.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]))


def test_a_call_beyond_the_budget_is_a_429_with_retry_after_and_what_remains(client, admin, user, oai, db_url):
    client.put(f"/api/admin/prices/{OLLAMA_MODEL}", json={"input_per_mtok": 1000, "output_per_mtok": 1000},
               headers=admin.account.headers)
    put_budget(client, admin, f"users/{user.account.id}", tokens_per_day=200)
    r = oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "hi [[tokens=20]]"}],
                                    max_tokens=50)
    assert r.usage.completion_tokens == 20
    [row] = usage_rows(db_url)
    assert row.cost_micros == (row.input_tokens + row.output_tokens) * 1000  # $1,000 per million: 1 micro a token
    with pytest.raises(openai.RateLimitError) as refused:  # max_tokens 500 cannot fit in what is left
        oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "again"}],
                                    max_tokens=500)
    error = refused.value
    assert error.code == "budget_exceeded" and "tokens per day" in error.message
    assert int(error.response.headers["retry-after"]) >= 1
    body = error.body
    assert body["budget"]["scope"] == "user"
    assert body["budget"]["remaining"]["tokens_per_day"] == 200 - row.input_tokens - row.output_tokens
    assert len(usage_rows(db_url)) == 1 and reservations(db_url) == 0  # refused: not a call, nothing held
    small = oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "ok [[tokens=5]]"}],
                                        max_tokens=10)
    assert small.usage.completion_tokens == 5  # a call that fits still goes


def test_a_keys_budget_and_embeddings(client, admin, user, oai, db_url):
    put_budget(client, admin, f"keys/{user.key_id}", requests_per_minute=2)
    oai.embeddings.create(model=OLLAMA_MODEL, input="one")
    oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "two [[tokens=3]]"}])
    with pytest.raises(openai.RateLimitError) as refused:
        oai.embeddings.create(model=OLLAMA_MODEL, input="three")
    assert "requests per minute" in refused.value.message and refused.value.body["budget"]["scope"] == "key"
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60
    # The same user signed in (not with that key) is not held to the key's budget.
    me = client.get("/api/auth/budget", headers=user.account.headers).json()
    assert me == {"budgets": []}


def test_a_stopped_stream_settles_what_it_used(client, admin, user, oai, db_url):
    put_budget(client, admin, f"users/{user.account.id}", concurrent_streams=1)
    stream = oai.chat.completions.create(model=OLLAMA_MODEL, stream=True, max_tokens=400,
                                         messages=[{"role": "user", "content": "go [[tokens=400]] [[rate=200]]"}])
    next(iter(stream))
    assert reservations(db_url) == 1
    with pytest.raises(openai.RateLimitError):  # one stream at a time
        oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "meanwhile"}])
    stream.close()  # the client goes away mid-answer
    for _ in range(200):  # the server sees the disconnect, then logs the call
        if usage_rows(db_url):
            break
        time.sleep(0.05)
    [row] = usage_rows(db_url)
    assert row.outcome == "stopped" and reservations(db_url) == 0
    r = oai.chat.completions.create(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "now [[tokens=2]]"}])
    assert r.usage.completion_tokens == 2

"""Budgets and prices: the admin API (bad input refused whole), the caller's remaining
budget, reservations that concurrent calls cannot overshoot (threads on SQLite and
PostgreSQL), settlement, expiry, and the cost report with its CSV export."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

import pytest

from omnichat.billing import reservations, totals
from omnichat.billing.reservations import Ask, BudgetExceeded
from omnichat.db import lite
from omnichat.db.engine import session_scope
from omnichat.db.models import UsageRecord, utcnow
from omnichat.usage import CallRecord, record
from tests.helpers import assert_error, sign_up

MODEL = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def people(client):  # type: ignore[no-untyped-def]
    return sign_up(client, "admin@example.com"), sign_up(client, "user@example.com")


def put_budget(client, admin, user_id, **limits):  # type: ignore[no-untyped-def]
    return client.put(f"/api/admin/budgets/users/{user_id}", json=limits, headers=admin.headers)


def add_usage(db_url: str, user_id: str, tokens: int, cost_micros: int = 0, when=None, model=MODEL,
              api_key_id=None) -> None:
    """A call's usage row and its day's totals, as usage.record writes them."""
    when = when or utcnow()
    with session_scope(db_url) as db:
        db.add(UsageRecord(user_id=user_id, model=model, provider="bedrock", input_tokens=tokens, output_tokens=0,
                           outcome="complete", cost_micros=cost_micros, created_at=when, api_key_id=api_key_id))
    lite.run(db_url, lambda db: totals.add(db, user_id, api_key_id, tokens, cost_micros, when))


def rows(db_url: str, sql: str) -> list:
    return lite.run(db_url, lambda db: [tuple(row) for row in db.execute(sql).fetchall()])


# ---- prices -------------------------------------------------------------------------------
def test_prices_are_set_listed_replaced_and_deleted(client, people):
    admin, user = people
    r = client.put(f"/api/admin/prices/{MODEL}", json={"input_per_mtok": 0.25, "output_per_mtok": 1.25,
                                                       "cache_read_per_mtok": 0.03}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["cache_write_per_mtok"] == 0 and r.json()["gpu_hour"] is None
    gpu = client.put("/api/admin/prices/ollama/llama3:8b", json={"gpu_hour": 1.2}, headers=admin.headers)
    assert gpu.status_code == 200 and gpu.json()["gpu_hour"] == 1.2
    listed = client.get("/api/admin/prices", headers=admin.headers).json()
    assert [p["model"] for p in listed] == [MODEL, "ollama/llama3:8b"]
    assert client.delete("/api/admin/prices/ollama/llama3:8b", headers=admin.headers).status_code == 204
    assert_error(client.delete("/api/admin/prices/ollama/llama3:8b", headers=admin.headers), 404, "price_not_found")
    assert client.get("/api/admin/prices", headers=user.headers).status_code == 403


@pytest.mark.parametrize("model, body, code", [
    (MODEL, {"input_per_mtok": -1}, "validation_error"),
    (MODEL, {"output_per_mtok": 1e9}, "validation_error"),
    (MODEL, {"gpu_hour": 2.0}, "invalid_price"),  # only Ollama models run on our GPUs
    ("preset/helper", {"input_per_mtok": 1}, "invalid_model"),  # a preset costs what its base costs
    ("gpt-4", {"input_per_mtok": 1}, "invalid_model"),
])
def test_bad_prices_are_refused_and_change_nothing(client, people, model, body, code):
    admin, _ = people
    client.put(f"/api/admin/prices/{MODEL}", json={"input_per_mtok": 3}, headers=admin.headers)
    r = client.put(f"/api/admin/prices/{model}", json=body, headers=admin.headers)
    assert_error(r, 422 if code == "validation_error" else 400, code)
    [price] = client.get("/api/admin/prices", headers=admin.headers).json()
    assert (price["model"], price["input_per_mtok"], price["output_per_mtok"]) == (MODEL, 3, 0)


def test_a_price_of_the_wrong_type_is_a_422(client, people):
    admin, _ = people
    assert client.put(f"/api/admin/prices/{MODEL}", json={"input_per_mtok": "3"}, headers=admin.headers
                      ).status_code == 422


# ---- budgets ------------------------------------------------------------------------------
@pytest.mark.parametrize("limits, status, code", [
    ({"tokens_per_day": -5}, 422, "validation_error"),  # the bounds are in the OpenAPI schema too
    ({"usd_per_month": -0.01}, 422, "validation_error"),
    ({"tokens_per_day": 10**15}, 422, "validation_error"),  # absurd: a typo, not a budget
    ({"concurrent_streams": 10**7}, 422, "validation_error"),
    ({"usd_per_day": float("inf")}, 400, "invalid_json"),  # the API reads no Infinity
    ({}, 400, "invalid_budget"),  # no limit at all: delete the budget instead
    ({"tokens_per_day": 1.5}, 422, "validation_error"),
    ({"tokens_per_day": "1000"}, 422, "validation_error"),  # a string is not a number
    ({"tokens_per_hour": 5}, 422, "validation_error"),
])
def test_bad_budgets_are_refused_and_the_old_one_stays(client, people, limits, status, code):
    admin, user = people
    assert put_budget(client, admin, user.id, tokens_per_day=1000, requests_per_minute=5).status_code == 200
    if limits.get("usd_per_day") == float("inf"):  # Python's encoder would write it
        r = client.put(f"/api/admin/budgets/users/{user.id}", content=b'{"usd_per_day": Infinity}',
                       headers={**admin.headers, "content-type": "application/json"})
    else:
        r = put_budget(client, admin, user.id, **limits)
    assert_error(r, status, code)
    [budget] = client.get("/api/admin/budgets", headers=admin.headers).json()
    assert budget["limits"]["tokens_per_day"] == 1000 and budget["limits"]["requests_per_minute"] == 5


def test_a_whole_number_written_with_a_point_is_an_integer(client, people):
    """JSON Schema's integer: 3.0 is one, as clients (and the conformance test) send it."""
    admin, user = people
    r = put_budget(client, admin, user.id, concurrent_streams=3.0, tokens_per_day=1000.0)
    assert r.status_code == 200, r.text
    [budget] = client.get("/api/admin/budgets", headers=admin.headers).json()
    assert budget["limits"]["concurrent_streams"] == 3 and budget["limits"]["tokens_per_day"] == 1000


def test_budgets_for_unknown_subjects_are_404(client, people):
    admin, _ = people
    assert_error(put_budget(client, admin, "nobody", tokens_per_day=1), 404, "user_not_found")
    assert_error(client.put("/api/admin/budgets/keys/nokey", json={"tokens_per_day": 1}, headers=admin.headers),
                 404, "key_not_found")
    assert_error(client.put("/api/admin/budgets/groups/nogroup", json={"tokens_per_day": 1},
                            headers=admin.headers), 404, "group_not_found")
    assert_error(client.delete("/api/admin/budgets/users/nobody", headers=admin.headers), 404, "budget_not_found")
    assert client.get("/api/admin/budgets", headers=admin.headers).json() == []


def test_a_budget_set_below_what_is_used_is_taken_and_effective_at_once(client, people, settings):
    admin, user = people
    url = settings.resolved_database_url
    add_usage(url, user.id, 5000)
    r = put_budget(client, admin, user.id, tokens_per_day=1000)
    assert r.status_code == 200, r.text
    assert r.json()["used"]["tokens_per_day"] == 5000 and r.json()["remaining"]["tokens_per_day"] == 0
    assert r.json()["exceeded"] == ["tokens_per_day"]
    with pytest.raises(BudgetExceeded) as refused:
        lite.run(url, lambda db: reservations.reserve(db, user.id, None, Ask((MODEL,), 10, 10)))
    assert refused.value.status == 429 and int(refused.value.headers["retry-after"]) >= 1
    assert refused.value.details["budget"]["remaining"]["tokens_per_day"] == 0
    mine = client.get("/api/auth/budget", headers=user.headers).json()["budgets"]
    assert [(b["scope"], b["remaining"]["tokens_per_day"]) for b in mine] == [("user", 0)]
    assert client.delete(f"/api/admin/budgets/users/{user.id}", headers=admin.headers).status_code == 204
    assert lite.run(url, lambda db: reservations.reserve(db, user.id, None, Ask((MODEL,), 10, 10))) is None


def test_my_budget_counts_user_group_and_key_budgets(client, people, settings):
    admin, user = people
    key = client.post("/api/keys", json={"name": "k"}, headers=user.headers).json()
    group = client.post("/api/admin/groups", json={"name": "Research"}, headers=admin.headers)
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    added = client.post(f"/api/admin/groups/{group_id}/members", json={"user_id": user.id}, headers=admin.headers)
    assert added.status_code == 204, added.text
    assert put_budget(client, admin, user.id, tokens_per_month=100_000).status_code == 200
    assert client.put(f"/api/admin/budgets/groups/{group_id}", json={"usd_per_day": 2.5},
                      headers=admin.headers).status_code == 200
    assert client.put(f"/api/admin/budgets/keys/{key['id']}", json={"requests_per_minute": 3},
                      headers=admin.headers).status_code == 200
    add_usage(settings.resolved_database_url, user.id, 700, cost_micros=500_000, api_key_id=key["id"])
    signed_in = client.get("/api/auth/budget", headers=user.headers).json()["budgets"]
    assert sorted(b["scope"] for b in signed_in) == ["group", "user"]  # not the key's: not calling with it
    with_key = client.get("/api/auth/budget", headers={"authorization": f"Bearer {key['key']}"}).json()["budgets"]
    by_scope = {b["scope"]: b for b in with_key}
    assert by_scope["user"]["remaining"]["tokens_per_month"] == 100_000 - 700
    assert by_scope["group"]["remaining"]["usd_per_day"] == 2.0
    assert by_scope["key"]["remaining"]["requests_per_minute"] == 2
    # A check reads only what each budget limits (the three differ): admitted, then the key's 3rd is not.
    url, ask = settings.resolved_database_url, Ask((MODEL,), 10, 10)
    for _ in range(2):
        assert lite.run(url, lambda db: reservations.reserve(db, user.id, key["id"], ask)) is not None
    with pytest.raises(BudgetExceeded) as refused:
        lite.run(url, lambda db: reservations.reserve(db, user.id, key["id"], ask))
    assert refused.value.details["budget"]["scope"] == "key"


# ---- reservations ---------------------------------------------------------------------------
@pytest.mark.parametrize("limit", ["tokens_per_day", "concurrent_streams", "requests_per_minute", "usd_per_day"])
def test_concurrent_calls_cannot_overshoot(client, people, settings, limit):
    """Thirty calls at once against a budget that admits ten: exactly ten are admitted."""
    admin, user = people
    url = settings.resolved_database_url
    client.put(f"/api/admin/prices/{MODEL}", json={"input_per_mtok": 1, "output_per_mtok": 1}, headers=admin.headers)
    ask = Ask((MODEL,), 100, 900)  # 1,000 tokens, 1,000 micro-USD
    value = {"tokens_per_day": 10_000, "concurrent_streams": 10, "requests_per_minute": 10, "usd_per_day": 0.01}
    assert put_budget(client, admin, user.id, **{limit: value[limit]}).status_code == 200
    admitted, refused, start = [], [], threading.Barrier(30)

    def call() -> None:
        start.wait()
        try:
            admitted.append(lite.run(url, lambda db: reservations.reserve(db, user.id, None, ask)))
        except BudgetExceeded as exc:
            refused.append(exc)

    threads = [threading.Thread(target=call) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 10 and len(refused) == 20
    assert all(e.code == "budget_exceeded" for e in refused)


def test_settling_replaces_the_estimate_with_what_was_used(client, people, settings):
    admin, user = people
    url = settings.resolved_database_url
    client.put(f"/api/admin/prices/{MODEL}", json={"input_per_mtok": 2, "output_per_mtok": 10}, headers=admin.headers)
    put_budget(client, admin, user.id, tokens_per_day=5000, concurrent_streams=1)
    held = lite.run(url, lambda db: reservations.reserve(db, user.id, None, Ask((MODEL,), 1000, 3000)))
    assert held is not None
    with pytest.raises(BudgetExceeded):  # one at a time
        lite.run(url, lambda db: reservations.reserve(db, user.id, None, Ask((MODEL,), 1, 1)))
    # A stopped call settles what it used: 1,000 in, 40 out.
    call = CallRecord(user_id=user.id, model=MODEL, provider="bedrock", outcome="stopped", input_tokens=1000,
                      output_tokens=40, reservation_id=held)
    lite.run(url, lambda db: record(db, call))
    assert rows(url, "SELECT id FROM budget_reservations") == []
    assert rows(url, "SELECT cost_micros FROM usage") == [(2000 + 400,)]  # 1000 × $2/M + 40 × $10/M
    [budget] = client.get("/api/auth/budget", headers=user.headers).json()["budgets"]
    assert budget["used"]["tokens_per_day"] == 1040 and budget["used"]["concurrent_streams"] == 0
    assert budget["used"]["usd_per_day"] == 0.0024


def test_an_expired_reservation_no_longer_counts(client, people, settings):
    admin, user = people
    url = settings.resolved_database_url
    put_budget(client, admin, user.id, concurrent_streams=1)
    held = lite.run(url, lambda db: reservations.reserve(db, user.id, None, Ask((MODEL,), 1, 1)))
    lite.run(url, lambda db: db.execute("UPDATE budget_reservations SET expires_at = ? WHERE id = ?",
                                        utcnow() - timedelta(seconds=1), held))  # its process died
    live = lite.run(url, lambda db: reservations.reserve(db, user.id, None, Ask((MODEL,), 1, 1)))
    with pytest.raises(BudgetExceeded):  # the live one counts
        lite.run(url, lambda db: reservations.reserve(db, user.id, None, Ask((MODEL,), 1, 1)))
    call = CallRecord(user_id=user.id, model=MODEL, provider="bedrock", outcome="complete", reservation_id=live)
    lite.run(url, lambda db: record(db, call))
    assert rows(url, "SELECT id FROM budget_reservations") == []  # settled, and the dead one swept with it


def test_gpu_hour_prices_charge_the_calls_duration(client, people, settings):
    admin, user = people
    url = settings.resolved_database_url
    client.put("/api/admin/prices/ollama/llama3:8b", json={"gpu_hour": 3.6}, headers=admin.headers)
    call = CallRecord(user_id=user.id, model="preset/helper", priced_model="ollama/llama3:8b", provider="ollama",
                      outcome="complete", input_tokens=10, output_tokens=10, duration_ms=2000)
    lite.run(url, lambda db: record(db, call))
    assert rows(url, "SELECT model, cost_micros FROM usage") == [("preset/helper", 2000)]  # 2 s × $3.6/h


# ---- the cost report ----------------------------------------------------------------------
def test_costs_by_user_model_and_key_with_csv(client, people, settings):
    admin, user = people
    url = settings.resolved_database_url
    key = client.post("/api/keys", json={"name": "=cmd"}, headers=user.headers).json()
    add_usage(url, user.id, 100, cost_micros=1_500_000, api_key_id=key["id"])
    add_usage(url, user.id, 50, cost_micros=500_000, model="ollama/x")
    add_usage(url, admin.id, 10, cost_micros=250_000)
    add_usage(url, user.id, 10, cost_micros=9_000_000, when=utcnow() - timedelta(days=60))  # outside
    by_user = client.get("/api/admin/usage/costs", params={"by": "user"}, headers=admin.headers).json()
    assert [(r["name"], r["calls"], r["cost_usd"]) for r in by_user["rows"]] == [
        ("user@example.com", 2, 2.0), ("admin@example.com", 1, 0.25)]
    assert by_user["total_usd"] == 2.25
    by_model = client.get("/api/admin/usage/costs", params={"by": "model"}, headers=admin.headers).json()["rows"]
    assert [(r["name"], r["cost_usd"]) for r in by_model] == [(MODEL, 1.75), ("ollama/x", 0.5)]
    by_key = client.get("/api/admin/usage/costs", params={"by": "key"}, headers=admin.headers).json()["rows"]
    assert [(r["name"], r["cost_usd"]) for r in by_key] == [("=cmd (user@example.com)", 1.5),
                                                             ("no key (signed in)", 0.75)]
    by_group = client.get("/api/admin/usage/costs", params={"by": "group"}, headers=admin.headers).json()["rows"]
    assert [(r["name"], r["cost_usd"]) for r in by_group] == [("no group", 2.25)]
    exported = client.get("/api/admin/usage/costs", params={"by": "key", "format": "csv"}, headers=admin.headers)
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == ["key_id", "key", "calls", "input_tokens", "output_tokens", "cache_read_tokens",
                        "cache_write_tokens", "cost_usd"]
    assert table[1][1] == "'=cmd (user@example.com)" and table[1][7] == "1.500000"  # no formula runs
    assert_error(client.get("/api/admin/usage/costs", params={"by": "planet"}, headers=admin.headers), 422)
    assert client.get("/api/admin/usage/costs", headers=user.headers).status_code == 403


def test_the_core_refuses_bad_limits_and_prices_itself():
    """The same bounds hold for callers other than the REST API (the schema states them too)."""
    from omnichat.billing import budgets, prices
    from omnichat.errors import BadRequest

    for values in ({"tokens_per_day": -1}, {"usd_per_day": float("nan")}, {"requests_per_minute": 10**9},
                   {"concurrent_streams": 2.5}, {"tokens_per_day": True}, {"hours": 1}, {}):
        with pytest.raises(BadRequest):
            budgets.checked(values)
    for price in ({"input_per_mtok": -0.5}, {"output_per_mtok": float("inf")}, {"gpu_hour": 10**6}):
        with pytest.raises(BadRequest):
            prices.checked(price)
    assert budgets.checked({"tokens_per_day": 0})["tokens_per_day"] == 0  # 0: nothing allowed


def test_the_days_totals_follow_the_usage_rows(client, people, settings):
    """What budgets add up (usage_totals) is what the request log holds, per user and key."""
    admin, user = people
    url = settings.resolved_database_url
    for tokens, key in ((10, "k1"), (20, None), (5, "k1")):
        call = CallRecord(user_id=user.id, api_key_id=key, model=MODEL, provider="bedrock", outcome="complete",
                          input_tokens=tokens, output_tokens=1, cache_read_tokens=2)
        lite.run(url, lambda db, call=call: record(db, call))
    got = rows(url, "SELECT kind, subject_id, calls, tokens FROM usage_totals ORDER BY kind")
    assert got == [("key", "k1", 2, 10 + 5 + 6), ("user", user.id, 3, 35 + 9)]


def test_budget_and_price_changes_are_in_the_audit_log(client, people):
    admin, user = people
    client.put(f"/api/admin/prices/{MODEL}", json={"input_per_mtok": 1.0}, headers=admin.headers)
    put_budget(client, admin, user.id, tokens_per_day=100)
    put_budget(client, admin, user.id, tokens_per_day=50)
    put_budget(client, admin, user.id, tokens_per_day=-1)  # refused: no entry
    client.delete(f"/api/admin/budgets/users/{user.id}", headers=admin.headers)
    entries = client.get("/api/admin/audit", params={"action": "budget."}, headers=admin.headers).json()
    found = [(e["action"], e["target_id"]) for e in entries["entries"]]
    assert found == [("budget.deleted", user.id), ("budget.set", user.id), ("budget.set", user.id),
                     ("budget.price_set", MODEL)]
    assert entries["entries"][1]["details"]["tokens_per_day"] == {"from": 100, "to": 50}

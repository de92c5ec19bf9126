"""The admin's usage report, built from the request log."""

from __future__ import annotations

from datetime import timedelta

from omnichat.db.engine import session_scope
from omnichat.db.models import UsageRecord, utcnow
from tests.helpers import sign_up


def test_usage_is_summed_per_day_by_model_and_by_user(client, settings):
    admin = sign_up(client, "admin@example.com")
    user = sign_up(client, "user@example.com")
    now = utcnow()
    with session_scope(settings.resolved_database_url) as db:
        for who, model, tin, tout, when in [
            (user.id, "ollama/a", 10, 20, now), (user.id, "ollama/a", 1, 2, now), (admin.id, "bedrock/b", 5, 5, now),
            (user.id, "ollama/a", 100, 100, now - timedelta(days=2)),
            (user.id, "ollama/a", 7, 7, now - timedelta(days=90)),
        ]:
            db.add(UsageRecord(user_id=who, model=model, provider=model.split("/")[0], input_tokens=tin,
                               output_tokens=tout, outcome="complete", created_at=when))
    report = client.get("/api/admin/usage", params={"days": 30}, headers=admin.headers).json()
    today = now.date().isoformat()
    by_model = {(r["date"], r["model"]): r for r in report["by_model"]}
    assert by_model[(today, "ollama/a")] == {"date": today, "model": "ollama/a", "calls": 2, "input_tokens": 11,
                                              "output_tokens": 22, "cache_read_tokens": 0, "cache_write_tokens": 0,
                                              "saved_input_tokens": 0}
    assert len(report["by_model"]) == 3  # today a, today b, two days ago a; 90 days ago is outside
    by_user = {(r["date"], r["user"]) for r in report["by_user"]}
    assert (today, "user@example.com") in by_user and (today, "admin@example.com") in by_user
    assert client.get("/api/admin/usage", headers=user.headers).status_code == 403


def test_cache_reads_and_writes_and_what_they_saved(client, settings):
    """Saved input-token equivalents: a token read costs 10 % of an input token on Claude
    (25 % on Nova), a token written 125 % on Claude (100 % on Nova)."""
    admin = sign_up(client, "admin@example.com")
    user = sign_up(client, "user@example.com")
    claude, nova = "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", "bedrock/amazon.nova-micro-v1:0"
    with session_scope(settings.resolved_database_url) as db:
        for model, read, write in [(claude, 0, 2000), (claude, 2000, 0), (claude, 2000, 100), (nova, 1000, 1000)]:
            db.add(UsageRecord(user_id=user.id, model=model, provider="bedrock", input_tokens=5, output_tokens=5,
                               cache_read_tokens=read, cache_write_tokens=write, outcome="complete"))
    report = client.get("/api/admin/usage", headers=admin.headers).json()
    by_model = {r["model"]: r for r in report["by_model"]}
    assert (by_model[claude]["cache_read_tokens"], by_model[claude]["cache_write_tokens"]) == (4000, 2100)
    assert by_model[claude]["saved_input_tokens"] == 4000 * 0.9 - 2100 * 0.25 == 3075
    assert by_model[nova]["saved_input_tokens"] == 750
    [mine] = report["by_user"]  # one user's rows over two models, folded into one
    assert (mine["user"], mine["calls"], mine["input_tokens"]) == ("user@example.com", 4, 20)
    assert (mine["cache_read_tokens"], mine["saved_input_tokens"]) == (5000, 3075 + 750)

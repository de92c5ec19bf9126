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
                                              "output_tokens": 22}
    assert len(report["by_model"]) == 3  # today a, today b, two days ago a; 90 days ago is outside
    by_user = {(r["date"], r["user"]) for r in report["by_user"]}
    assert (today, "user@example.com") in by_user and (today, "admin@example.com") in by_user
    assert client.get("/api/admin/usage", headers=user.headers).status_code == 403

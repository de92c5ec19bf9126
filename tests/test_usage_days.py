"""The usage report's days are UTC days on both databases, whatever time zone the
database session runs in (PostgreSQL's date() of a timestamptz would take the session's)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text

from omnichat import usage
from omnichat.db.engine import session_scope
from omnichat.db.lite import Db
from omnichat.db.models import UsageRecord

# 14 hours ahead of UTC: both calls below fall on 2 March there.
FAR_EAST = "Pacific/Kiritimati"


def test_calls_either_side_of_utc_midnight_count_on_their_utc_days(db_url: str) -> None:
    late = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)
    early = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)
    with session_scope(db_url) as s:
        for when in (late, early):
            s.add(UsageRecord(user_id=None, model="ollama/a", provider="ollama", input_tokens=1, output_tokens=2,
                              outcome="complete", created_at=when))
    with session_scope(db_url) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text(f"SET LOCAL TIME ZONE '{FAR_EAST}'"))  # this transaction only
            assert s.execute(text("SHOW TIME ZONE")).scalar() == FAR_EAST
        report = usage.daily_totals(Db.of_session(s), datetime(2026, 3, 1, tzinfo=timezone.utc), "model")
    assert [(r["date"], r["calls"]) for r in report] == [("2026-03-01", 1), ("2026-03-02", 1)]

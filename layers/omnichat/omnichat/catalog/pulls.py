"""Model pulls through the worker beside Ollama (ollama_service/omnichat_pull): a request
is a `model_pulls` row; the worker claims it, pulls, and writes progress into it. Nothing
here waits on the pull, so a pull may take longer than any Lambda lives. Plain SQL over
`omnichat.db.lite` (ws_chat relays a pull without loading SQLAlchemy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omnichat.db.lite import Db, Record, utcnow
from omnichat.ids import new_id


@dataclass
class PullRow(Record):
    TABLE = "model_pulls"
    TIMESTAMPS = ("created_at", "updated_at", "started_at", "finished_at")

    id: str
    model: str
    status: str
    status_text: str
    digest: str | None
    completed: int
    total: int
    error: str | None
    requested_by: str | None
    worker: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


ACTIVE_SQL = "status IN ('queued', 'running')"  # the partial unique index's predicate


def get_pull(db: Db, pull_id: str) -> PullRow | None:
    return PullRow.first(db, "WHERE id = ?", pull_id)


def active_pull(db: Db, model_id: str) -> PullRow | None:
    return PullRow.first(db, f"WHERE model = ? AND {ACTIVE_SQL}", model_id)


def request_pull(db: Db, model_id: str, user_id: str) -> PullRow:
    """The active pull of this model, or a new queued one: asking twice (another admin,
    a reloaded page) attaches to the same pull."""
    existing = active_pull(db, model_id)
    if existing is not None:
        return existing
    now = utcnow()
    pull = PullRow(id=new_id(), model=model_id, status="queued", status_text="queued", digest=None, completed=0,
                   total=0, error=None, requested_by=user_id, worker=None, created_at=now, updated_at=now,
                   started_at=None, finished_at=None)
    # Another request for the same model may win the race: the insert is then a no-op.
    if pull.insert(db, f"ON CONFLICT (model) WHERE {ACTIVE_SQL} DO NOTHING").rowcount == 1:
        return pull
    winner = active_pull(db, model_id)
    if winner is None:
        raise RuntimeError("a pull request changed no row and no pull is active")
    return winner


def recent_pulls(db: Db, limit: int = 50) -> list[PullRow]:
    return PullRow.select(db, "ORDER BY created_at DESC LIMIT ?", limit)

"""Model pulls through the worker beside Ollama (ollama_service/omnichat_pull): a request
is a `model_pulls` row; the worker claims it, pulls, and writes progress into it. Nothing
here waits on the pull, so a pull may take longer than any Lambda lives."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnichat.db.models import ModelPull

ACTIVE = ("queued", "running")
FINAL = ("success", "error", "cancelled")


def active_pull(db: Session, model_id: str) -> ModelPull | None:
    return db.scalar(select(ModelPull).where(ModelPull.model == model_id, ModelPull.status.in_(ACTIVE)))


def request_pull(db: Session, model_id: str, user_id: str) -> ModelPull:
    """The active pull of this model, or a new queued one: asking twice (another admin,
    a reloaded page) attaches to the same pull."""
    existing = active_pull(db, model_id)
    if existing is not None:
        return existing
    pull = ModelPull(model=model_id, requested_by=user_id, status_text="queued")
    try:
        with db.begin_nested():
            db.add(pull)
            db.flush()
    except IntegrityError:  # another request for the same model won the race
        winner = active_pull(db, model_id)
        if winner is None:
            raise
        return winner
    return pull


def recent_pulls(db: Session, limit: int = 50) -> list[ModelPull]:
    return list(db.scalars(select(ModelPull).order_by(ModelPull.created_at.desc()).limit(limit)))

"""The `model_pulls` table: a queue of pull requests that also carries their progress.

The WebSocket Lambda inserts a `queued` row when an admin asks for a model (and relays the
row's progress to the admin's socket); a worker claims it, streams the pull, and keeps the
row's progress and `updated_at` fresh; the row ends `success`, `error` or `cancelled`. An
admin cancels by setting `cancelled`: the worker's next write matches no row and it stops.

Claiming is one conditional UPDATE (`WHERE id = ? AND status = 'queued'`), so of several
workers exactly one wins, on PostgreSQL and SQLite alike. A `running` row whose worker
stopped writing for `stale_s` is put back in the queue for another task to finish.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

# The DB-API helper the core uses too (URL, connection, placeholders, datetimes): one file,
# layers/omnichat/omnichat/db/dbapi.py, which the image copies (ollama_service/Dockerfile).
from omnichat.db import dbapi

Dialect = Literal["postgresql", "sqlite"]
FINAL = ("success", "error", "cancelled")
PROVIDER_PREFIX = "ollama/"
log = logging.getLogger("omnichat_pull")


class StoreError(Exception):
    """The database could not be reached or refused a statement."""


@dataclass(frozen=True)
class PullJob:
    id: str
    model: str  # as requested: "ollama/llama3.2:3b" or "llama3.2:3b"

    @property
    def ollama_name(self) -> str:
        return self.model.removeprefix(PROVIDER_PREFIX)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class PullStore:
    def __init__(self, connect: Callable[[], Any], dialect: Dialect,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._connect = connect
        self.dialect = dialect
        self._clock = clock
        self._db: Any = None

    # -- connection ------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PullStore | None:
        """DATABASE_URL (sqlite:///path or postgresql://...), else the ECS-injected secret
        OMNICHAT_DB_SECRET (JSON with username/password) with OMNICHAT_DB_HOST/PORT/NAME.
        None when neither is configured."""
        if env.get("DATABASE_URL"):
            return cls.from_url(env["DATABASE_URL"])
        if not env.get("OMNICHAT_DB_SECRET"):
            return None
        secret = json.loads(env["OMNICHAT_DB_SECRET"])
        use_ssl = env.get("OMNICHAT_DB_SSL", "true").strip().lower() in ("1", "true", "yes", "on")
        return cls.postgresql(
            user=secret["username"], password=secret["password"],
            host=env.get("OMNICHAT_DB_HOST") or secret.get("host", "127.0.0.1"),
            port=int(env.get("OMNICHAT_DB_PORT") or secret.get("port") or 5432),
            database=env.get("OMNICHAT_DB_NAME") or secret.get("dbname") or "omnichat",
            use_ssl=use_ssl,
        )

    @classmethod
    def from_url(cls, url: str) -> PullStore:
        target = dbapi.parse_url(url)
        if target.sqlite:
            return cls(lambda: dbapi.connect(target, tls=False), "sqlite")
        return cls._postgresql(target)

    @classmethod
    def postgresql(cls, *, user: str, password: str, host: str, port: int, database: str,
                   use_ssl: bool) -> PullStore:
        return cls._postgresql(dbapi.Target(user=user, password=password or None, host=host, port=port,
                                            database=database, tls_requested=use_ssl))

    @classmethod
    def _postgresql(cls, target: dbapi.Target) -> PullStore:
        return cls(lambda: dbapi.connect(target, tls=target.tls_requested, timeout=30,
                                         application_name="omnichat-pull-worker"), "postgresql")

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
                log.debug("closing the database connection failed: %s", exc)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[int, list[tuple[Any, ...]]]:
        """Run one statement in its own transaction: (rowcount, rows). Any driver error
        drops the connection (the next call reconnects) and becomes StoreError."""
        sqlite = self.dialect == "sqlite"
        sql = dbapi.driver_sql(sql, sqlite)
        params = tuple(dbapi.bind(value, sqlite) for value in params)
        try:
            if self._db is None:
                self._db = self._connect()
            cursor = self._db.cursor()
            try:
                cursor.execute(sql, params)
                rows = cursor.fetchall() if cursor.description else []
                count = cursor.rowcount
            finally:
                cursor.close()
            self._db.commit()
            return count, rows
        except Exception as exc:
            self.close()
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    def _now(self, offset_s: float = 0.0) -> datetime:
        return self._clock() + timedelta(seconds=offset_s)  # bound as the core binds it (dbapi.bind)

    # -- queue ---------------------------------------------------------------------
    def requeue_stale(self, stale_s: float) -> int:
        count, _ = self._execute(
            "UPDATE model_pulls SET status = 'queued', worker = NULL, status_text = ?, updated_at = ? "
            "WHERE status = 'running' AND updated_at < ?",
            ("requeued: its worker stopped reporting", self._now(), self._now(-stale_s)))
        return max(count, 0)

    def claim_next(self, worker_id: str) -> PullJob | None:
        """The oldest queued pull, now owned by this worker; None if the queue is empty."""
        for _ in range(5):  # lost races retry with the next row
            _, rows = self._execute(
                "SELECT id, model FROM model_pulls WHERE status = 'queued' ORDER BY created_at, id LIMIT 1")
            if not rows:
                return None
            job_id, model = str(rows[0][0]), str(rows[0][1])
            now = self._now()
            count, _ = self._execute(
                "UPDATE model_pulls SET status = 'running', worker = ?, status_text = ?, started_at = ?, "
                "updated_at = ?, error = NULL WHERE id = ? AND status = 'queued'",
                (worker_id, "starting", now, now, job_id))
            if count == 1:
                return PullJob(id=job_id, model=model)
        return None

    def report(self, job: PullJob, worker_id: str, *, status_text: str | None = None,
               digest: str | None = None, completed: int | None = None, total: int | None = None) -> bool:
        """Progress (or only a heartbeat). False when the row is no longer this worker's
        running pull: cancelled by an admin, or requeued and taken by another worker."""
        count, _ = self._execute(
            "UPDATE model_pulls SET status_text = COALESCE(?, status_text), digest = COALESCE(?, digest), "
            "completed = COALESCE(?, completed), total = COALESCE(?, total), updated_at = ? "
            "WHERE id = ? AND worker = ? AND status = 'running'",
            (status_text[:300] if status_text is not None else None, digest, completed, total,
             self._now(), job.id, worker_id))
        return count == 1

    def finish(self, job: PullJob, worker_id: str, status: str, error: str | None = None) -> bool:
        if status not in FINAL:
            raise ValueError(f"not a final status: {status}")
        now = self._now()
        text = {"success": "success", "error": "failed", "cancelled": "cancelled"}[status]
        count, _ = self._execute(
            "UPDATE model_pulls SET status = ?, status_text = ?, error = ?, updated_at = ?, finished_at = ? "
            "WHERE id = ? AND worker = ? AND status = 'running'",
            (status, text, error[:2000] if error else None, now, now, job.id, worker_id))
        return count == 1

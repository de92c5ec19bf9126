"""Requests in flight on each Ollama node, counted where every process sees them.

Lambdas share no memory, and Ollama does not say how busy it is (`/api/ps` lists loaded
models, not requests), so the count lives in the database: a request takes a lease (a row
naming its node) before it is sent and gives it back when it ends. Choosing a node and
taking its lease is one transaction under one lock, so thirty requests arriving together
see each other's leases and spread instead of all picking the same idle node. A process
that dies mid-request never gives its lease back: leases expire (`LEASE_S`, the longest a
Lambda can run), and expired ones are swept by the next claim.

`LocalLeases` keeps the same counts in process memory: what the router falls back to when
the database cannot be used (its table missing, the database down), so routing bookkeeping
never fails a chat.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from omnichat.db import lite
from omnichat.db.lite import Db, Record, utcnow
from omnichat.ids import new_id

log = logging.getLogger("omnichat.providers.ollama")
LEASE_S = 15 * 60.0  # a Lambda's hard limit: no request outlives it, so no lease should
_LOCK = "ollama_leases"


@dataclass
class LeaseRow(Record):
    TABLE = "ollama_leases"
    TIMESTAMPS = ("started_at", "expires_at")

    id: str
    node: str
    model: str
    started_at: datetime
    expires_at: datetime


class Leases(Protocol):
    def claim(self, model: str, penalties: dict[str, float]) -> tuple[str, str]:
        """(lease id, node): the node of `penalties` with the fewest requests in flight
        plus its penalty, a lease on it taken in the same step."""
        ...

    def release(self, lease_id: str) -> None: ...

    def counts(self) -> dict[str, int]:
        """Requests in flight per node (nodes with none are left out)."""
        ...


def choose(penalties: dict[str, float], counts: dict[str, int]) -> str:
    """The node with the lowest in-flight count plus penalty; ties broken at random, so
    processes that see the same counts do not all pick the first node."""
    scored = [(counts.get(node, 0) + penalty, random.random(), node) for node, penalty in penalties.items()]
    return min(scored)[2]


class DbLeases:
    """Leases in the `ollama_leases` table (migration 0008)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    def claim(self, model: str, penalties: dict[str, float]) -> tuple[str, str]:
        def work(db: Db) -> tuple[str, str]:
            db.lock(_LOCK)  # PostgreSQL: one chooser at a time; SQLite serializes writers already
            now = utcnow()
            db.execute("DELETE FROM ollama_leases WHERE expires_at < ?", now)
            node = choose(penalties, _counts(db, now))
            lease = LeaseRow(id=new_id(), node=node, model=model[:300], started_at=now,
                             expires_at=now + timedelta(seconds=LEASE_S))
            lease.insert(db)
            return lease.id, node

        return lite.run(self.db_url, work)

    def release(self, lease_id: str) -> None:
        lite.run(self.db_url, lambda db: db.execute("DELETE FROM ollama_leases WHERE id = ?", lease_id))

    def counts(self) -> dict[str, int]:
        return lite.run(self.db_url, lambda db: _counts(db, utcnow()))


def _counts(db: Db, now: datetime) -> dict[str, int]:
    rows = db.execute("SELECT node, COUNT(*) FROM ollama_leases WHERE expires_at >= ? GROUP BY node", now)
    return {str(node): int(count) for node, count in rows.fetchall()}


class LocalLeases:
    """The same counts in this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, str] = {}  # lease id -> node

    def claim(self, model: str, penalties: dict[str, float]) -> tuple[str, str]:
        with self._lock:
            node = choose(penalties, self.counts())
            lease_id = new_id()
            self._leases[lease_id] = node
            return lease_id, node

    def release(self, lease_id: str) -> None:
        with self._lock:
            self._leases.pop(lease_id, None)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in list(self._leases.values()):
            counts[node] = counts.get(node, 0) + 1
        return counts


class FallbackLeases:
    """Database leases while the database answers; in-process ones when it does not (a
    lease is released where it was taken)."""

    def __init__(self, primary: Leases) -> None:
        self.primary, self.local = primary, LocalLeases()
        self._warned = False

    def claim(self, model: str, penalties: dict[str, float]) -> tuple[str, str]:
        try:
            lease_id, node = self.primary.claim(model, penalties)
            return f"db:{lease_id}", node
        except Exception as exc:
            self._warn(exc)
            lease_id, node = self.local.claim(model, penalties)
            return f"local:{lease_id}", node

    def release(self, lease_id: str) -> None:
        where, _, key = lease_id.partition(":")
        if where == "local":
            self.local.release(key)
            return
        try:
            self.primary.release(key)
        except Exception as exc:  # it expires by itself
            self._warn(exc)

    def counts(self) -> dict[str, int]:
        try:
            counts = self.primary.counts()
        except Exception as exc:
            self._warn(exc)
            counts = {}
        for node, count in self.local.counts().items():
            counts[node] = counts.get(node, 0) + count
        return counts

    def _warn(self, exc: Exception) -> None:
        if not self._warned:  # once per process: every request would say the same
            self._warned = True
            log.warning("Ollama leases: the database is not usable (%s: %s); counting in this process only",
                        type(exc).__name__, str(exc)[:200])

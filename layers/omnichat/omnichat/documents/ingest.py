"""One file from `queued` to `ready` (or `failed`, with a sentence saying why), with progress.

`index_file` is what both indexers run: the stack's in-process worker (queue.py) and the
AWS indexer function (functions/indexer), fed by SQS, which delivers at least once. So:

- the file is *claimed* first, one UPDATE that moves it `queued` -> `indexing` only if it is
  still queued: of two workers given the same file, one indexes it and the other does
  nothing; a file already ready, failed or deleted is a no-op. A worker that died mid-way
  (a Lambda timeout) leaves `indexing` with an `updated_at` no progress update refreshes:
  after `LEASE` it may be claimed again.
- the object is read, extracted, chunked and embedded in batches, `progress` going 0-100;
- the chunks replace the file's old ones, and the file becomes `ready`, in ONE transaction.

Any failure leaves the file `failed` with its reason and no chunks, except a transient one
(the embedding model unreachable or throttled past its retries, storage or the database
down) on an attempt that is not the last: the file goes back to `queued` and `Transient`
is raised, so SQS retries the message. The last attempt (or the local worker, which has no
one to retry for it) marks the file failed instead of leaving it queued for ever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from omnichat.config import Settings
from omnichat.db.lite import Db, run, utcnow
from omnichat.errors import FailureReason

log = logging.getLogger("omnichat.documents.ingest")

# How long an `indexing` file is held by its worker without a progress update (each embedded
# batch refreshes it): longer than the indexer function's timeout (5 minutes).
LEASE = timedelta(minutes=10)
# An upload not completed by its `upload_expires_at` becomes failed with this.
UPLOAD_EXPIRED = "The upload never completed."
# Progress: extraction and chunking take the first EXTRACTED percent, embedding the rest
# up to 99; 100 is written with the chunks.
EXTRACTED = 10

Outcome = Literal["ready", "failed", "skipped", "busy", "pending"]
"""What `index_file` did: `ready`/`failed` it indexed (or failed) the file; `skipped` there
was nothing to do (already ready, failed or deleted: a redelivery); `busy` another worker
holds it; `pending` the upload is not completed yet (the file is still `uploading`)."""

Embed = Callable[[Settings, Sequence[str], "str | None"], list[list[float]]]


class Transient(Exception):
    """Indexing failed for a reason that may pass (the file is back to `queued`): retry."""


class Failed(FailureReason):
    """Indexing failed for good: `reason` is the sentence the person reads."""


@dataclass(frozen=True)
class Claimed:
    id: str
    storage_key: str
    content_type: str | None
    collection_id: str | None
    name: str


@dataclass(frozen=True)
class Parts:
    """The pipeline's collaborators; each None is the configured one (documents/storage.py,
    embedder.py, store.py). Tests and the benchmark inject their own."""

    storage: Any = None
    embed: Embed | None = None
    store: Any = None

    def resolved(self, settings: Settings) -> Parts:
        storage, embed, store = self.storage, self.embed, self.store
        if storage is None:
            from omnichat.documents.storage import storage_for

            storage = storage_for(settings)
        if embed is None:
            from omnichat.documents.embedder import embed as default_embed

            embed = default_embed
        if store is None:
            from omnichat.documents.store import store_for

            store = store_for(settings)
        return Parts(storage, embed, store)


# ------------------------------------------------------------------------------ indexing
def index_file(db_url: str, settings: Settings, file_id: str, *, final_attempt: bool = True,
               parts: Parts | None = None) -> Outcome:
    """Index `file_id` if it is queued (see the module's docstring). Raises `Transient` only
    when `final_attempt` is false; every other failure is recorded on the file."""
    used = (parts or Parts()).resolved(settings)  # no I/O: imports and constructors
    claimed, outcome = claim(db_url, file_id)
    if claimed is None:
        return outcome
    try:
        return _index(db_url, settings, claimed, settings.embed_model, used)
    except Failed as failure:
        log.info("file %s failed: %s", file_id, failure.reason)
        return _fail(db_url, claimed.id, failure.reason, used)
    except Exception as exc:  # noqa: BLE001 - every failure ends as data on the file
        transient = _is_transient(exc)
        log.warning("indexing file %s failed (%s): %r", file_id, "transient" if transient else "permanent", exc,
                    exc_info=not transient)
        if transient and not final_attempt:
            _release(db_url, claimed.id)
            raise Transient(str(exc)) from exc
        return _fail(db_url, claimed.id, _sentence(exc), used)


def claim(db_url: str, file_id: str, now: datetime | None = None) -> tuple[Claimed | None, Outcome]:
    """Move the file `queued` -> `indexing` (or take over an `indexing` one whose lease
    expired) in one statement; (the claimed file, "ready") or (None, why not)."""
    now = now or utcnow()

    def work(db: Db) -> tuple[Claimed | None, Outcome]:
        taken = db.execute(
            "UPDATE files SET status = 'indexing', progress = 0, error = NULL, updated_at = ? "
            "WHERE id = ? AND kind = 'document' AND (status = 'queued' OR (status = 'indexing' AND updated_at < ?))",
            now, file_id, now - LEASE).rowcount
        row = db.execute("SELECT status, storage_key, content_type, collection_id, name FROM files WHERE id = ?",
                         file_id).fetchone()
        if taken == 1 and row is not None:
            return Claimed(file_id, row[1], row[2], row[3], row[4]), "ready"
        status = row[0] if row else None
        return None, "pending" if status == "uploading" else "busy" if status == "indexing" else "skipped"

    return run(db_url, work)


def _index(db_url: str, settings: Settings, file: Claimed, model: str, parts: Parts) -> Outcome:
    from omnichat.documents.chunking import chunk
    from omnichat.documents.extract import ExtractError, extract

    data = _read(parts.storage, file.storage_key)
    try:
        extracted = extract(data, file.content_type or "application/octet-stream", name=file.name)
    except ExtractError as exc:
        raise Failed(_reason(exc)) from exc
    except (MemoryError, RecursionError, ValueError, LookupError, TypeError, OSError) as exc:
        log.warning("extracting file %s raised %r", file.id, exc, exc_info=True)
        raise Failed("The file could not be read: it may be damaged or in a format that is not supported.") from exc
    chunks = list(chunk(extracted.sections))
    if not chunks:
        raise Failed("No text was found in the file (a scanned document needs its text recognised first).")
    if not _progress(db_url, file.id, EXTRACTED):
        return "skipped"  # deleted while it was being read
    assert parts.embed is not None
    vectors: list[list[float]] = []
    texts = [c.text for c in chunks]
    from omnichat.documents.embedder import BATCH

    for start in range(0, len(texts), BATCH):
        vectors.extend(parts.embed(settings, texts[start:start + BATCH], model))
        done = EXTRACTED + (99 - EXTRACTED) * min(len(texts), start + BATCH) // len(texts)
        if not _progress(db_url, file.id, done):
            return "skipped"
    if len(vectors) != len(chunks):
        raise Failed("The embedding model returned the wrong number of vectors.")
    pages = getattr(extracted, "pages", None)
    return "ready" if run(db_url, lambda db: _commit(db, parts.store, file, chunks, vectors, model, pages)) \
        else "skipped"


def _commit(db: Db, store: Any, file: Claimed, chunks: list[Any], vectors: list[list[float]], model: str,
            pages: int | None) -> bool:
    """The chunks replace the file's, and the file becomes ready: one transaction. False
    when the file is no longer ours (deleted, or taken over after our lease expired)."""
    if not _still_indexing(db, file.id):
        return False
    store.delete_file(db, file.id)
    store.add(db, file.id, chunks, vectors)
    db.execute("UPDATE files SET status = 'ready', progress = 100, error = NULL, pages = ?, chunk_count = ?, "
               "embed_model = ?, updated_at = ? WHERE id = ?", pages, len(chunks), model, utcnow(), file.id)
    if file.collection_id:  # a collection records the model of its vectors (its first file's)
        db.execute("UPDATE collections SET embed_model = ? WHERE id = ? AND embed_model IS NULL",
                   model, file.collection_id)
    return True


def _still_indexing(db: Db, file_id: str) -> bool:
    lock = "" if db.sqlite else " FOR UPDATE"  # SQLite: the transaction holds the write lock already
    row = db.execute(f"SELECT status FROM files WHERE id = ?{lock}", file_id).fetchone()
    return row is not None and row[0] == "indexing"


def _progress(db_url: str, file_id: str, percent: int) -> bool:
    """Record progress (and so renew the lease); False if the file is no longer indexing."""
    return bool(run(db_url, lambda db: db.execute(
        "UPDATE files SET progress = ?, updated_at = ? WHERE id = ? AND status = 'indexing'",
        percent, utcnow(), file_id).rowcount == 1))


def _fail(db_url: str, file_id: str, reason: str, parts: Parts) -> Outcome:
    """The file failed: its reason recorded and none of its chunks left."""

    def work(db: Db) -> Outcome:
        if not _still_indexing(db, file_id):
            return "skipped"
        parts.store.delete_file(db, file_id)  # nothing half indexed, nor an old version's chunks
        db.execute("UPDATE files SET status = 'failed', error = ?, progress = 0, chunk_count = 0, updated_at = ? "
                   "WHERE id = ?", reason[:1000], utcnow(), file_id)
        return "failed"

    return run(db_url, work)


def _release(db_url: str, file_id: str) -> None:
    """Back to `queued` for another attempt (its old chunks, if any, untouched)."""
    try:
        run(db_url, lambda db: db.execute(
            "UPDATE files SET status = 'queued', progress = 0, updated_at = ? WHERE id = ? AND status = 'indexing'",
            utcnow(), file_id))
    except Exception:  # noqa: BLE001 - the database is down: the lease expires and the file is claimed again
        log.warning("could not release file %s", file_id, exc_info=True)


def _read(storage: Any, key: str) -> bytes:
    try:
        data = storage.get(key)
    except Exception as exc:
        if _missing(exc):
            raise Failed("The file's contents are missing from storage: upload it again.") from exc
        raise
    if data is None:
        raise Failed("The file's contents are missing from storage: upload it again.")
    return bytes(data)


def _missing(exc: BaseException) -> bool:
    """Storage says the object does not exist (local file gone, S3 NoSuchKey/404)."""
    if isinstance(exc, (FileNotFoundError, KeyError)):
        return True
    names = {type(exc).__name__, str(getattr(exc, "code", "") or "")}
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        names.add(str(response.get("Error", {}).get("Code", "")))
    return bool(names & {"object_missing", "NoSuchKey", "404"})


def _is_transient(exc: BaseException) -> bool:
    """Worth another attempt later: a retryable provider error, the network, the database."""
    if getattr(exc, "retryable", False):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if type(exc).__name__ == "StorageError":  # storage.py's: the store unreachable or refusing
        return not _missing(exc)
    module = type(exc).__module__
    return module.startswith(("pg8000", "sqlite3", "botocore", "httpx", "urllib3")) and not _missing(exc)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or str(exc)
    return str(reason) or "The file could not be read."


def _sentence(exc: BaseException) -> str:
    from omnichat.providers.errors import ProviderError

    if isinstance(exc, ProviderError):
        return f"The embedding model failed: {exc.message}"  # the person's words; the detail is logged
    return "Indexing failed on the server; try uploading the file again."


# ------------------------------------------------------------------------ housekeeping
def expire_uploads(db_url: str, now: datetime | None = None, storage: Any = None) -> list[str]:
    """Uploads not completed in time become failed ("The upload never completed."); their
    objects, if any part of them landed, are deleted. The ids."""
    now = now or utcnow()

    def work(db: Db) -> list[tuple[str, str]]:
        rows = db.execute("SELECT id, storage_key FROM files WHERE status = 'uploading' AND upload_expires_at < ?",
                          now).fetchall()
        for file_id, _key in rows:
            db.execute("UPDATE files SET status = 'failed', error = ?, updated_at = ? WHERE id = ? "
                       "AND status = 'uploading'", UPLOAD_EXPIRED, now, file_id)
        return [(r[0], r[1]) for r in rows]

    expired = run(db_url, work)
    for file_id, key in expired:
        if storage is not None:
            try:
                storage.delete(key)
            except Exception:  # noqa: BLE001 - an object that never landed is fine
                log.info("expired upload %s: no object to delete", file_id)
    return [file_id for file_id, _ in expired]


def waiting(db_url: str, older_than: timedelta = timedelta(0), now: datetime | None = None) -> list[str]:
    """Files that need a worker: `queued` (for longer than `older_than`), and `indexing`
    ones whose worker died (lease expired). Oldest first."""
    now = now or utcnow()
    return run(db_url, lambda db: [r[0] for r in db.execute(
        "SELECT id FROM files WHERE kind = 'document' AND ((status = 'queued' AND updated_at <= ?) "
        "OR (status = 'indexing' AND updated_at < ?)) ORDER BY created_at", now - older_than, now - LEASE).fetchall()])


def reindex_stale(db_url: str, settings: Settings) -> list[str]:
    """The configured embedding model changed: every collection made with another model
    takes the new one and its ready files go back to `queued` (their old chunks stay
    searchable until each is replaced), as do chat attachments embedded with another
    model. Vectors of two models are never compared. The ids to index."""
    model = settings.embed_model

    def work(db: Db) -> list[str]:
        db.execute("UPDATE collections SET embed_model = ?, updated_at = ? WHERE embed_model IS NOT NULL "
                   "AND embed_model <> ?", model, utcnow(), model)
        ids = [r[0] for r in db.execute(
            "SELECT id FROM files WHERE kind = 'document' AND status = 'ready' AND embed_model IS NOT NULL "
            "AND embed_model <> ? ORDER BY created_at", model).fetchall()]
        for file_id in ids:
            db.execute("UPDATE files SET status = 'queued', progress = 0, updated_at = ? WHERE id = ? "
                       "AND status = 'ready'", utcnow(), file_id)
        return ids

    ids = run(db_url, work)
    if ids:
        log.info("embedding model is now %s: re-indexing %d file(s)", model, len(ids))
    return ids


def sweep(db_url: str, settings: Settings, *, budget_s: float, parts: Parts | None = None,
          older_than: timedelta = timedelta(minutes=2)) -> dict[str, int]:
    """Housekeeping for a worker with no queue of its own to trust (the scheduled indexer run
    in AWS): expire stale uploads, re-queue stale-model files, then index what waits, until
    `budget_s` is spent. Counts of what it did."""
    deadline = time.monotonic() + budget_s
    storage = parts.storage if parts else None
    expired = expire_uploads(db_url, storage=storage)
    requeued = reindex_stale(db_url, settings)
    indexed = 0
    for file_id in dict.fromkeys(requeued + waiting(db_url, older_than=older_than)):
        if time.monotonic() >= deadline:
            break
        try:
            if index_file(db_url, settings, file_id, final_attempt=False, parts=parts) in ("ready", "failed"):
                indexed += 1
        except Transient:
            break  # the model or the database is down: the next run tries again
    return {"expired": len(expired), "requeued": len(requeued), "indexed": indexed}

"""Getting a file's bytes in (docs/documents.md, "A file's life"):

- `upload`: the bytes in one request (POST /api/files): checked, sniffed, stored, queued.
- `start`: a direct upload (POST /api/files/uploads): the row, `uploading` until
  `upload_expires_at`, with its declared size held in the quota, and the presigned form
  (S3's POST policy, or this API's signed form locally).
- `accept_local`: the local form's POST (POST /api/files/{id}/upload): checked, stored once.
- `complete` (POST /api/files/{id}/complete): the object is there and within the size, its
  bytes are sniffed (the client's type is never used), the file is queued (images: ready).

A document becomes `queued` and is handed to `queue.enqueue` once committed; an image is
`ready` at once (images are not indexed)."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
from omnichat.documents import collections, files
from omnichat.documents.files import FileRow
from omnichat.documents.sniff import clean_name, sniff
from omnichat.documents.storage import LocalStorage, PresignedPost, Storage, UploadExpired, object_key
from omnichat.errors import AppError, Conflict, NotFound
from omnichat.ids import new_id

log = logging.getLogger("omnichat.documents")

# What the bytes themselves make fail: the upload ends (its object deleted); another error
# (the store unreachable) leaves it to be completed again.
FAILS_THE_UPLOAD = ("unsupported_type", "empty_file", "file_too_large", "quota_exceeded")
QUEUE_FAILED = "The file could not be handed to the indexer; upload it again."


def _new_row(principal: Principal, name: str, collection_id: str | None, *, size: int, status: str,
             expires_at: datetime | None = None) -> FileRow:
    now, file_id = utcnow(), new_id()
    return FileRow(id=file_id, user_id=principal.user_id, collection_id=collection_id, name=name, kind="document",
                   content_type=None, size=size, sha256=None, storage_key=object_key(principal.user_id, file_id),
                   status=status, error=None, progress=0, pages=None, chunk_count=0, embed_model=None,
                   upload_expires_at=expires_at, created_at=now, updated_at=now)


def _target(db: Db, principal: Principal, collection_id: str | None) -> str | None:
    """Only a collection's owner adds files to it (a reader: 403 read_only)."""
    return collections.get_owned(db, principal, collection_id).id if collection_id else None


def upload(db: Db, settings: Settings, storage: Storage, principal: Principal, name: str, data: bytes,
           collection_id: str | None = None) -> FileRow:
    name = clean_name(name)
    collection = _target(db, principal, collection_id)
    files.check_file_size(len(data), settings.max_file_bytes)
    sniffed = sniff(data, name)
    files.lock_quota(db, principal.user_id)
    files.check_quota(db, principal.user_id, len(data), settings.max_user_file_bytes)
    row = _new_row(principal, name, collection, size=len(data), status="uploading")
    _fill(row, data, sniffed.kind, sniffed.content_type)
    row.insert(db)
    storage.put(row.storage_key, data)  # before the commit: a failed write leaves no row
    return hand_over(db, settings, storage, row)


def start(db: Db, settings: Settings, storage: Storage, principal: Principal, name: str, size: int,
          collection_id: str | None = None) -> tuple[FileRow, PresignedPost]:
    name = clean_name(name)
    collection = _target(db, principal, collection_id)
    files.check_file_size(size, settings.max_file_bytes)
    files.lock_quota(db, principal.user_id)
    files.check_quota(db, principal.user_id, size, settings.max_user_file_bytes)
    expires_s = int(files.UPLOAD_WINDOW.total_seconds())
    row = _new_row(principal, name, collection, size=size, status="uploading")  # the declared size holds quota
    form = storage.presign_post(row.storage_key, size, expires_s)
    row.upload_expires_at = form.expires_at
    row.insert(db)
    return row, form


def accept_local(db: Db, storage: Storage, file_id: str, fields: dict[str, str], data: bytes) -> None:
    """The local upload form's POST: no bearer token, the signed form is the credential."""
    if not isinstance(storage, LocalStorage):
        raise NotFound("Uploads go to the file store's own address", code="not_found")
    db.lock("files.upload", file_id)  # one upload of a form at a time: the second finds it used
    file = FileRow.first(db, "WHERE id = ?", file_id)
    if file is None:
        raise NotFound("No such upload", code="upload_not_found")
    if file.status != "uploading":
        if file.status == "failed" and file.error == files.NEVER_COMPLETED:
            raise UploadExpired()
        raise Conflict("This upload form has been used already", code="upload_used")
    if file.expired:
        files.expire_if_due(db, storage, file)
        db.commit()
        raise UploadExpired()
    storage.accept_post(file.storage_key, fields, data)


def complete(db: Db, settings: Settings, storage: Storage, principal: Principal, file_id: str) -> FileRow:
    """Idempotent: a file completed already is answered as it is."""
    files.get_owned(db, storage, principal, file_id)  # 404 / 403 before any lock is taken
    db.lock("files.upload", file_id)
    file = files.get_owned(db, storage, principal, file_id)  # again, now that no other completion runs
    if file.status == "failed":
        db.commit()  # an upload that has just expired stays failed
        if file.error == files.NEVER_COMPLETED:
            raise UploadExpired()
        raise Conflict(f"This upload failed: {file.error}", code="upload_failed")
    if file.status != "uploading":
        return file
    size = storage.size(file.storage_key)
    if size is None:
        raise Conflict("Nothing has been uploaded for this file yet: upload it, then complete it",
                       code="upload_missing")
    try:
        files.check_file_size(size, min(file.size, settings.max_file_bytes) if file.size else settings.max_file_bytes)
        data = storage.get(file.storage_key)
        files.check_file_size(len(data), settings.max_file_bytes)
        sniffed = sniff(data, file.name)
        files.lock_quota(db, principal.user_id)
        files.check_quota(db, principal.user_id, len(data), settings.max_user_file_bytes, but=file.id)
    except AppError as refusal:
        if refusal.code in FAILS_THE_UPLOAD:
            files.mark_failed(db, storage, file, refusal.message, drop_object=True)
            db.commit()  # the refusal is kept; the object is gone
        raise
    _fill(file, data, sniffed.kind, sniffed.content_type)
    db.execute("UPDATE files SET kind = ?, content_type = ?, size = ?, sha256 = ?, status = ?, progress = ?,"
               " upload_expires_at = NULL, updated_at = ? WHERE id = ?", file.kind, file.content_type, file.size,
               file.sha256, file.status, file.progress, file.updated_at, file.id)
    file.upload_expires_at = None
    return hand_over(db, settings, storage, file)


def _fill(row: FileRow, data: bytes, kind: str, content_type: str) -> None:
    row.kind, row.content_type, row.size = kind, content_type, len(data)
    row.sha256 = hashlib.sha256(data).hexdigest()
    row.status = "ready" if kind == "image" else "queued"
    row.progress = 100 if kind == "image" else 0
    row.updated_at = utcnow()


def hand_over(db: Db, settings: Settings, storage: Storage, row: FileRow) -> FileRow:
    """Commits the file (the indexer must find it), then queues a document."""
    db.commit()
    if row.status != "queued":
        return row
    from omnichat.documents import queue

    try:
        queue.enqueue(settings, row.id)
    except Exception:  # noqa: BLE001 - the queue is down: the file says so rather than wait forever
        log.exception("could not queue file %s", row.id)
        files.mark_failed(db, storage, row, QUEUE_FAILED, drop_object=False)
        db.commit()
    return row

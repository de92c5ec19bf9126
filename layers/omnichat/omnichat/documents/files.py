"""The `files` rows (docs/documents.md): read with authorization, list, delete (the stored
object, the chunks and the row), quotas, and the end of uploads that never completed.
Uploading itself (one request, or a direct upload and its completion) is uploads.py.

Who may do what with a file:
- its owner: everything;
- a member of a group its collection is shared with: read it (its row, its content, its
  passages), nothing else (a 403 `read_only` then, as the file is visible to them);
- anyone else, admins included: the file does not exist (404 `file_not_found`).

Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from omnichat.auth.principal import Principal
from omnichat.db.lite import Db, Record, utcnow
from omnichat.documents import access
from omnichat.documents.ingest import UPLOAD_EXPIRED
from omnichat.documents.storage import Storage, StorageError
from omnichat.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge

log = logging.getLogger("omnichat.documents")

STATUSES = ("uploading", "queued", "indexing", "ready", "failed")
KINDS = ("document", "image")
UPLOAD_WINDOW = timedelta(minutes=15)
NEVER_COMPLETED = UPLOAD_EXPIRED  # the indexer's sweep says the same
MAX_LISTED = 500


@dataclass
class FileRow(Record):
    TABLE = "files"
    TIMESTAMPS = ("upload_expires_at", "created_at", "updated_at")

    id: str
    user_id: str
    collection_id: str | None
    name: str
    kind: str
    content_type: str | None
    size: int
    sha256: str | None
    storage_key: str
    status: str
    error: str | None
    progress: int
    pages: int | None
    chunk_count: int
    embed_model: str | None
    upload_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def expired(self) -> bool:
        return (self.status == "uploading" and self.upload_expires_at is not None
                and self.upload_expires_at <= utcnow())


@dataclass
class ChunkText:
    """A passage as citations show it (a chunk's row less its embedding)."""

    id: str
    file_id: str
    ordinal: int
    text: str
    page: int | None
    section: str | None


@dataclass
class Passage:
    """A cited passage and the text around it (the chunks just before and after)."""

    chunk: ChunkText
    previous: str | None
    next: str | None


# A file the user may read: their own, or one of a collection shared with a group of theirs.
READABLE = access.readable("files.user_id", "files.collection_id")


# ---------------------------------------------------------------------------------- reads
def get_readable(db: Db, storage: Storage, principal: Principal, file_id: str) -> FileRow:
    found = FileRow.first(db, f"WHERE files.id = ? AND {READABLE}", file_id, principal.user_id, principal.user_id)
    if found is None:
        raise NotFound("No such file", code="file_not_found")
    return expire_if_due(db, storage, found)


def get_owned(db: Db, storage: Storage, principal: Principal, file_id: str) -> FileRow:
    """The caller's own file; a file they may only read is a 403 `read_only`."""
    found = get_readable(db, storage, principal, file_id)
    if found.user_id != principal.user_id:
        raise Forbidden("This file is shared with you to read only", code="read_only")
    return found


def list_files(db: Db, storage: Storage, principal: Principal, *, collection_id: str | None = None,
               status: str | None = None, limit: int = MAX_LISTED) -> list[FileRow]:
    """The caller's files, newest first; with `collection_id`, that collection's files (the
    caller may read it: the collections module checked)."""
    sweep_expired(db, storage, principal.user_id if collection_id is None else None, collection_id)
    where, params = (["collection_id = ?"], [collection_id]) if collection_id else (["user_id = ?"],
                                                                                   [principal.user_id])
    if status is not None:
        if status not in STATUSES:
            raise BadRequest(f"status is one of {', '.join(STATUSES)}", code="invalid_status")
        where.append("status = ?")
        params.append(status)
    return FileRow.select(db, f"WHERE {' AND '.join(where)} ORDER BY created_at DESC, id LIMIT ?",
                          *params, max(1, min(limit, MAX_LISTED)))


def owned_files(db: Db, principal: Principal, file_ids: list[str]) -> list[FileRow]:
    """The caller's own files among `file_ids` in that order (chat attachments); any that is
    not theirs is not found."""
    ids = list(dict.fromkeys(file_ids))
    if not ids:
        return []
    rows = {f.id: f for f in FileRow.select(db, f"WHERE user_id = ? AND id IN ({', '.join('?' * len(ids))})",
                                            principal.user_id, *ids)}
    if len(rows) != len(ids):
        raise NotFound("No such file", code="file_not_found")
    return [rows[i] for i in ids]


def passage(db: Db, storage: Storage, principal: Principal, file_id: str, chunk_id: str) -> Passage:
    file = get_readable(db, storage, principal, file_id)
    row = db.execute("SELECT id, file_id, ordinal, text, page, section FROM chunks WHERE id = ? AND file_id = ?",
                     chunk_id, file.id).fetchone()
    if row is None:
        raise NotFound("No such passage (the file may have been indexed again)", code="passage_not_found")
    chunk = ChunkText(*row)
    around = dict(db.execute("SELECT ordinal, text FROM chunks WHERE file_id = ? AND ordinal IN (?, ?)",
                             file.id, chunk.ordinal - 1, chunk.ordinal + 1).fetchall())
    return Passage(chunk, around.get(chunk.ordinal - 1), around.get(chunk.ordinal + 1))


def content(db: Db, storage: Storage, principal: Principal, file_id: str) -> tuple[FileRow, bytes]:
    file = get_readable(db, storage, principal, file_id)
    if file.status == "uploading" or (file.status == "failed" and not file.sha256):
        raise NotFound("The file has no content (its upload did not complete)", code="file_not_uploaded")
    return file, storage.get(file.storage_key)


# -------------------------------------------------------------------------------- quotas
def check_file_size(size: int, max_file_bytes: int) -> None:
    if size <= 0:
        raise BadRequest("The file is empty", code="empty_file")
    if size > max_file_bytes:
        raise PayloadTooLarge(f"A file has at most {max_file_bytes // (1 << 20)} MB ({max_file_bytes} bytes)",
                              code="file_too_large")


def check_quota(db: Db, user_id: str, adding: int, max_user_file_bytes: int, *, but: str | None = None) -> None:
    """Refuses `adding` more bytes when the user's files (an upload in flight counts with
    its declared size; `but`: a file not to count) would pass the quota. The caller holds
    the user's quota lock (`lock_quota`) until it has written the row."""
    used = int(db.execute("SELECT COALESCE(SUM(size), 0) FROM files WHERE user_id = ? AND id <> ?"
                          # a failed upload whose bytes never were stored counts for nothing
                          " AND NOT (status = 'failed' AND sha256 IS NULL)", user_id, but or "").fetchone()[0])
    if used + adding > max_user_file_bytes:
        raise PayloadTooLarge(f"Your files would pass your quota of {max_user_file_bytes // (1 << 20)} MB"
                              f" ({used} bytes used)", code="quota_exceeded")


def lock_quota(db: Db, user_id: str) -> None:
    db.lock("files.quota", user_id)


# ---------------------------------------------------------------------- ends and deletes
def mark_failed(db: Db, storage: Storage, file: FileRow, error: str, *, drop_object: bool) -> FileRow:
    """The file fails with `error`; `drop_object`: its bytes are deleted too (and no longer
    count in the quota)."""
    now = utcnow()
    size = 0 if drop_object else file.size
    db.execute("UPDATE files SET status = 'failed', error = ?, size = ?, progress = 0, updated_at = ? WHERE id = ?",
               error, size, now, file.id)
    if drop_object:
        db.execute("DELETE FROM chunks WHERE file_id = ?", file.id)
        _drop_object(storage, file.storage_key)
    file.status, file.error, file.size, file.updated_at = "failed", error, size, now
    return file


def expire_if_due(db: Db, storage: Storage, file: FileRow) -> FileRow:
    """An upload not completed in its window fails, and what was uploaded is deleted."""
    if file.expired:
        return mark_failed(db, storage, file, NEVER_COMPLETED, drop_object=True)
    return file


def sweep_expired(db: Db, storage: Storage, user_id: str | None, collection_id: str | None = None) -> int:
    """Ends the user's (or the collection's) uploads that are past their window."""
    column, value = ("collection_id", collection_id) if collection_id else ("user_id", user_id)
    due = FileRow.select(db, f"WHERE {column} = ? AND status = 'uploading' AND upload_expires_at <= ?",
                         value, utcnow())
    for file in due:
        mark_failed(db, storage, file, NEVER_COMPLETED, drop_object=True)
    return len(due)


def delete(db: Db, storage: Storage, principal: Principal, file_id: str) -> None:
    file = get_owned(db, storage, principal, file_id)
    delete_rows(db, [file])
    db.commit()  # the rows are gone before the bytes: never a row without its object
    _drop_object(storage, file.storage_key)


def delete_rows(db: Db, files: list[FileRow]) -> None:
    """The files' chunks and rows (their attachments and citations go with them); the
    caller deletes the objects once this is committed."""
    for start in range(0, len(files), 200):
        ids = [f.id for f in files[start:start + 200]]
        marks = ", ".join("?" * len(ids))
        db.execute(f"DELETE FROM chunks WHERE file_id IN ({marks})", *ids)
        db.execute(f"DELETE FROM files WHERE id IN ({marks})", *ids)


def of_chats(db: Db, chat_ids: list[str]) -> list[FileRow]:
    """The attachments (files in no collection) of these chats that no other chat attaches:
    deleting the chats deletes them too."""
    if not chat_ids:
        return []
    marks = ", ".join("?" * len(chat_ids))
    attached = "SELECT mf.file_id FROM message_files mf JOIN messages m ON m.id = mf.message_id WHERE m.chat_id"
    return FileRow.select(db, f"WHERE collection_id IS NULL AND id IN ({attached} IN ({marks}))"
                              f" AND id NOT IN ({attached} NOT IN ({marks}) AND mf.file_id = files.id)",
                          *chat_ids, *chat_ids)


def of_user(db: Db, user_id: str) -> list[FileRow]:
    """Every file of a user, whose objects go when the user is deleted (the rows cascade)."""
    return FileRow.select(db, "WHERE user_id = ?", user_id)


def drop_objects(storage: Storage, files: list[FileRow]) -> None:
    for file in files:
        _drop_object(storage, file.storage_key)


def _drop_object(storage: Storage, key: str) -> None:
    try:
        storage.delete(key)
    except (StorageError, OSError, ValueError) as error:  # an orphan object; the row is what counts
        log.warning("could not delete stored object %s: %r", key, error)

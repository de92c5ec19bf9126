"""Indexing one file (documents/ingest.py) and the local worker (documents/queue.py), on
SQLite and PostgreSQL, with the real extractor, chunker and store, and the shared
deterministic Ollama-compatible server for embeddings:

- a file goes queued -> indexing -> ready with its chunks, pages, model and rising progress;
- a corrupt PDF, a zip bomb, an unsupported type, a vanished object, a model that does not
  exist: failed with the reason and no chunks (also when a ready file's re-index fails);
- a redelivery is a no-op, two workers racing on one file index it once, a file deleted
  mid-way leaves nothing behind;
- a transient failure before the last attempt puts the file back to queued (to retry);
- a change of embedding model re-indexes the collection's files; expired uploads fail;
- the local worker indexes what is enqueued and, when it starts, what a restart left queued.
"""

from __future__ import annotations

import io
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from omnichat.db import lite
from omnichat.documents import embedder, ingest, sniff
from omnichat.documents import queue as index_queue
from omnichat.documents.storage import LocalStorage, object_key
from omnichat.documents.store import DatabaseStore
from omnichat.ids import new_id
from tests.ollama_server import ollama_server  # noqa: F401 - the shared fixture

MODEL = "ollama/omnichat-test:latest"
GUIDE = "\n\n".join(f"## Part {i}\n\n" + f"The walrus number {i} sleeps on the ice floe and dreams of herring. " * 30
                    for i in range(30))


@pytest.fixture
def live(settings, ollama_server):  # noqa: F811
    return settings.with_overrides(ollama_host=ollama_server.url, embed_model=MODEL)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


def add_file(db_url: str, storage: LocalStorage, user_id: str, data: bytes | None, content_type: str,
             status: str = "queued", collection_id: str | None = None, **extra) -> str:
    file_id = new_id()
    key = object_key(user_id, file_id)
    if data is not None:
        storage.put(key, data)
    now = lite.utcnow()
    lite.run(db_url, lambda db: db.insert("files", {
        "id": file_id, "user_id": user_id, "collection_id": collection_id, "name": "guide.md", "kind": "document",
        "content_type": content_type, "size": len(data or b""), "storage_key": key, "status": status,
        "progress": 0, "chunk_count": 0, "created_at": now, "updated_at": now, **extra}))
    return file_id


def file_row(db_url: str, file_id: str) -> dict | None:
    def work(db):
        cur = db.execute("SELECT status, error, progress, pages, chunk_count, embed_model FROM files WHERE id = ?",
                         file_id)
        row = cur.fetchone()
        return None if row is None else dict(zip(("status", "error", "progress", "pages", "chunk_count",
                                                   "embed_model"), row, strict=True))
    return lite.run(db_url, work)


def chunk_ids(db_url: str, file_id: str) -> list[str]:
    return lite.run(db_url, lambda db: [r[0] for r in db.execute(
        "SELECT id FROM chunks WHERE file_id = ? ORDER BY ordinal", file_id).fetchall()])


def parts(storage, embed=None) -> ingest.Parts:
    return ingest.Parts(storage=storage, embed=embed, store=DatabaseStore())


def pdf_bytes(pages: int = 3) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for n in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 8, f"Page {n + 1}. " + "Glaciers carve fjords slowly over many thousands of years. " * 8)
    return bytes(pdf.output())


# ------------------------------------------------------------------------------ happy path
def test_a_file_goes_queued_indexing_ready_with_chunks_and_rising_progress(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, GUIDE.encode(), sniff.MARKDOWN)
    seen: list[tuple[str, int]] = []

    def recording_embed(settings, texts, model=None):  # the real embedder, watched between batches
        row = file_row(db_url, file_id)
        seen.append((row["status"], row["progress"]))
        return embedder.embed(settings, texts, model)

    assert ingest.index_file(db_url, live, file_id, parts=parts(storage, recording_embed)) == "ready"
    row = file_row(db_url, file_id)
    ids = chunk_ids(db_url, file_id)
    assert row["status"] == "ready" and row["progress"] == 100 and row["error"] is None
    assert row["embed_model"] == MODEL and row["chunk_count"] == len(ids) > embedder.BATCH  # several batches
    assert all(status == "indexing" for status, _ in seen)
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and progress[0] == ingest.EXTRACTED and progress[-1] < 100
    texts = lite.run(db_url, lambda db: [r[0] for r in db.execute(
        "SELECT text FROM chunks WHERE file_id = ? ORDER BY ordinal", file_id).fetchall()])
    assert "walrus number 29" in "".join(texts)


def test_a_pdf_records_its_pages(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, pdf_bytes(3), sniff.PDF)
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "ready"
    row = file_row(db_url, file_id)
    assert row["pages"] == 3 and row["chunk_count"] >= 3
    pages = lite.run(db_url, lambda db: {r[0] for r in db.execute(
        "SELECT page FROM chunks WHERE file_id = ?", file_id).fetchall()})
    assert pages == {1, 2, 3}


def test_the_first_file_of_a_collection_records_its_model(db_url, live, storage, user_id):
    cid = new_id()
    lite.run(db_url, lambda db: db.insert("collections", {"id": cid, "user_id": user_id, "name": "Notes",
                                                          "created_at": lite.utcnow(), "updated_at": lite.utcnow()}))
    file_id = add_file(db_url, storage, user_id, b"Plain notes about walruses.", sniff.TEXT, collection_id=cid)
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "ready"
    assert lite.run(db_url, lambda db: db.execute("SELECT embed_model FROM collections WHERE id = ?",
                                                  cid).fetchone()[0]) == MODEL


# ---------------------------------------------------------------------------- failures
def zip_bomb_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"<" + b"a" * (60 << 20))  # 60 MB of one letter: a few hundred KB zipped
    return out.getvalue()


@pytest.mark.parametrize(("data", "content_type", "words"), [
    (b"%PDF-1.7\n" + bytes(range(256)) * 40, sniff.PDF, "pdf"),
    (zip_bomb_docx(), sniff.DOCX, "zip bomb"),
    (b"\x00\x01\x02binary\xff\xfe" * 50, "application/octet-stream", "text"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", "images are not indexed"),
    (b"   \n\n  ", sniff.TEXT, "no text"),
], ids=["corrupt-pdf", "zip-bomb", "unsupported", "image", "empty"])
def test_a_file_that_cannot_be_read_fails_with_its_reason_and_no_chunks(db_url, live, storage, user_id, data,
                                                                        content_type, words):
    file_id = add_file(db_url, storage, user_id, data, content_type)
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "failed"
    row = file_row(db_url, file_id)
    assert row["status"] == "failed" and row["progress"] == 0 and row["chunk_count"] == 0
    assert words in row["error"].lower(), row["error"]
    assert row["error"].endswith(".") and chunk_ids(db_url, file_id) == []


def test_a_vanished_object_fails_the_file(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, None, sniff.TEXT)
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "failed"
    assert "missing" in file_row(db_url, file_id)["error"]


def test_an_unknown_embedding_model_fails_the_file_with_the_providers_words(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, b"Some text.", sniff.TEXT)
    bad = live.with_overrides(embed_model="ollama/no-such-embedder:1")
    assert ingest.index_file(db_url, bad, file_id, parts=parts(storage)) == "failed"
    row = file_row(db_url, file_id)
    assert row["error"].startswith("The embedding model failed") and chunk_ids(db_url, file_id) == []


def test_a_failed_reindex_leaves_no_chunks_of_the_old_version(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, GUIDE.encode(), sniff.MARKDOWN)
    ingest.index_file(db_url, live, file_id, parts=parts(storage))
    assert chunk_ids(db_url, file_id)
    key = lite.run(db_url, lambda db: db.execute("SELECT storage_key FROM files WHERE id = ?", file_id).fetchone()[0])
    storage.put(key, b"%PDF-1.4\nnot really")
    lite.run(db_url, lambda db: db.execute("UPDATE files SET status = 'queued', content_type = ? WHERE id = ?",
                                           sniff.PDF, file_id))
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "failed"
    assert chunk_ids(db_url, file_id) == [] and file_row(db_url, file_id)["chunk_count"] == 0


def test_a_transient_failure_puts_the_file_back_to_queued_until_the_last_attempt(db_url, settings, storage,
                                                                                  user_id):
    from omnichat.providers.errors import ProviderUnavailable

    file_id = add_file(db_url, storage, user_id, b"Some text.", sniff.TEXT)
    with pytest.raises(ingest.Transient):  # the settings' Ollama is a closed port
        ingest.index_file(db_url, settings, file_id, final_attempt=False, parts=parts(storage))
    assert file_row(db_url, file_id)["status"] == "queued" and chunk_ids(db_url, file_id) == []
    assert ingest.index_file(db_url, settings, file_id, final_attempt=True, parts=parts(storage)) == "failed"
    assert file_row(db_url, file_id)["error"] == f"The embedding model failed: {ProviderUnavailable.user_message}"


# ---------------------------------------------------------------------- at least once
def test_a_redelivery_is_a_no_op(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, GUIDE.encode(), sniff.MARKDOWN)
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "ready"
    before = chunk_ids(db_url, file_id)
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "skipped"
    assert chunk_ids(db_url, file_id) == before and file_row(db_url, file_id)["status"] == "ready"
    assert ingest.index_file(db_url, live, new_id(), parts=parts(storage)) == "skipped"  # no such file


def test_two_workers_racing_on_one_file_index_it_once(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, GUIDE.encode(), sniff.MARKDOWN)
    calls: list[int] = []
    start = threading.Barrier(2)

    def counting_embed(settings, texts, model=None):
        calls.append(len(texts))
        return embedder.embed(settings, texts, model)

    outcomes: list[str] = []

    def worker() -> None:
        start.wait()
        outcomes.append(ingest.index_file(db_url, live, file_id, parts=parts(storage, counting_embed)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) in (["busy", "ready"], ["ready", "skipped"])
    ids = chunk_ids(db_url, file_id)
    assert sum(calls) == len(ids) == file_row(db_url, file_id)["chunk_count"]  # each chunk embedded once


def test_an_indexing_file_whose_worker_died_is_taken_over_after_its_lease(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, b"Some text.", sniff.TEXT, status="indexing")
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "busy"
    stale = lite.utcnow() - ingest.LEASE - timedelta(seconds=1)
    lite.run(db_url, lambda db: db.execute("UPDATE files SET updated_at = ? WHERE id = ?", stale, file_id))
    assert ingest.waiting(db_url) == [file_id]
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "ready"


def test_a_file_deleted_while_it_is_indexed_leaves_nothing(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, GUIDE.encode(), sniff.MARKDOWN)

    def deleting_embed(settings, texts, model=None):
        lite.run(db_url, lambda db: db.execute("DELETE FROM files WHERE id = ?", file_id))
        return embedder.embed(settings, texts, model)

    assert ingest.index_file(db_url, live, file_id, parts=parts(storage, deleting_embed)) == "skipped"
    assert chunk_ids(db_url, file_id) == [] and file_row(db_url, file_id) is None


def test_an_uploading_file_is_pending(db_url, live, storage, user_id):
    file_id = add_file(db_url, storage, user_id, b"Some text.", sniff.TEXT, status="uploading")
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "pending"
    assert file_row(db_url, file_id)["status"] == "uploading"


# ------------------------------------------------------------------------- housekeeping
def test_a_new_embedding_model_reindexes_the_collections_files(db_url, live, storage, user_id):
    cid = new_id()
    lite.run(db_url, lambda db: db.insert("collections", {"id": cid, "user_id": user_id, "name": "Old",
                                                          "embed_model": "ollama/old-model:1",
                                                          "created_at": lite.utcnow(), "updated_at": lite.utcnow()}))
    file_id = add_file(db_url, storage, user_id, b"Walruses again.", sniff.TEXT, status="ready", collection_id=cid,
                       embed_model="ollama/old-model:1")
    current = add_file(db_url, storage, user_id, b"Up to date.", sniff.TEXT, status="ready", embed_model=MODEL)
    assert ingest.reindex_stale(db_url, live) == [file_id]
    assert file_row(db_url, file_id)["status"] == "queued" and file_row(db_url, current)["status"] == "ready"
    assert lite.run(db_url, lambda db: db.execute("SELECT embed_model FROM collections WHERE id = ?",
                                                  cid).fetchone()[0]) == MODEL
    assert ingest.index_file(db_url, live, file_id, parts=parts(storage)) == "ready"
    assert file_row(db_url, file_id)["embed_model"] == MODEL
    assert ingest.reindex_stale(db_url, live) == []


def test_uploads_never_completed_fail_and_their_objects_go(db_url, storage, user_id):
    past, future = lite.utcnow() - timedelta(minutes=1), lite.utcnow() + timedelta(minutes=10)
    expired = add_file(db_url, storage, user_id, b"partial", sniff.TEXT, status="uploading", upload_expires_at=past)
    live_upload = add_file(db_url, storage, user_id, None, sniff.TEXT, status="uploading", upload_expires_at=future)
    assert ingest.expire_uploads(db_url, storage=storage) == [expired]
    assert file_row(db_url, expired)["status"] == "failed"
    assert file_row(db_url, expired)["error"] == ingest.UPLOAD_EXPIRED
    assert file_row(db_url, live_upload)["status"] == "uploading"
    assert not storage.exists(object_key(user_id, expired))


# ---------------------------------------------------------------------- the local worker
def test_the_local_worker_indexes_what_is_enqueued_and_what_a_restart_left(db_url, live, storage, user_id):
    left = add_file(db_url, storage, user_id, b"Left queued by a restart.", sniff.TEXT)
    index_queue.stop()
    try:
        index_queue.start(live, parts=parts(storage))
        new = add_file(db_url, storage, user_id, GUIDE.encode(), sniff.MARKDOWN)
        index_queue.enqueue(live, new)
        index_queue.enqueue(live, new)  # twice: indexed once
        assert index_queue.wait_idle(60)
        assert file_row(db_url, left)["status"] == "ready"
        assert file_row(db_url, new)["status"] == "ready" and len(chunk_ids(db_url, new)) > 1
    finally:
        index_queue.stop()


def test_enqueue_sends_nothing_in_aws_mode(live, storage, user_id):
    index_queue.stop()
    index_queue.enqueue(live.with_overrides(index_queue_url="https://sqs.example/123/q"), new_id())
    assert index_queue._workers == {}  # S3's notification feeds the indexer: no local worker

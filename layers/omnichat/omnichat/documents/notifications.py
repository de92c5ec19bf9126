"""The AWS indexer's side of the queue (functions/indexer): SQS messages whose bodies are S3
event notifications for the files bucket, into `ingest.index_file` calls, and the answer
Lambda's SQS event source reads with ReportBatchItemFailures.

- `ObjectCreated:*` for a key `files/<user id>/<file id>` (storage.object_key) indexes that
  file. `s3:TestEvent` (sent when the notification is configured), other events and keys,
  and bodies that are not notifications at all are acknowledged and dropped: retrying
  cannot make them meaningful.
- A failure that may pass (ingest.Transient, the database unreachable, the file claimed by
  another worker, an upload not yet completed) is reported in `batchItemFailures`: SQS
  delivers the message again after the visibility timeout, and after `MAX_RECEIVES`
  receives moves it to the dead-letter queue. On that last receive ingest marks the file
  failed rather than leave it queued, so a person never waits on a message that is gone.
- A file that cannot be indexed (corrupt, unsupported, empty) is marked failed by ingest,
  and its message is acknowledged: it is not retried.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from omnichat.config import Settings
from omnichat.db.lite import run
from omnichat.documents import ingest

log = logging.getLogger("omnichat.documents.notifications")

MAX_RECEIVES = 5  # the index queue's redrive policy, maxReceiveCount (template.yaml)
# A presigned POST lands in S3 (and S3 notifies) a moment before the browser calls
# /complete, which queues the file: an `uploading` file is waited for this long.
PENDING_WAIT_S = 20.0
PENDING_POLL_S = 0.5
_KEY = re.compile(r"files/[A-Za-z0-9_-]{1,100}/(?P<file_id>[A-Za-z0-9_-]{1,100})")


def file_ids(body: str) -> list[str]:
    """The file ids a message names: those of its S3 `ObjectCreated:*` records whose key
    is a file's object key (URL-decoded, as S3 encodes keys in notifications). Nothing for
    a test event, another event or key, or a body that is not a notification."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        return []
    if not isinstance(message, dict):
        return []
    records = message.get("Records")
    ids: list[str] = []
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        try:
            key = unquote_plus(str(record["s3"]["object"]["key"]))
        except (KeyError, TypeError):
            continue
        match = _KEY.fullmatch(key)
        if match and match["file_id"] not in ids:
            ids.append(match["file_id"])
    return ids


def handle(event: dict[str, Any], db_url: str, settings: Settings, *, parts: ingest.Parts | None = None,
           pending_wait_s: float = PENDING_WAIT_S) -> dict[str, list[dict[str, str]]]:
    """An SQS event for the indexer: every record's files indexed; the ids of the messages
    to deliver again, in the shape ReportBatchItemFailures reads."""
    failures: list[dict[str, str]] = []
    records = event.get("Records") if isinstance(event, dict) else None
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or "messageId" not in record:
            continue
        if not _process(record, db_url, settings, parts, pending_wait_s):
            failures.append({"itemIdentifier": str(record["messageId"])})
    return {"batchItemFailures": failures}


def _process(record: dict[str, Any], db_url: str, settings: Settings, parts: ingest.Parts | None,
             pending_wait_s: float) -> bool:
    """True when the message is done with (indexed, failed for good, or meaningless)."""
    attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
    try:
        receives = int((attributes or {}).get("ApproximateReceiveCount", "1"))
    except ValueError:
        receives = 1
    final = receives >= MAX_RECEIVES
    ids = file_ids(str(record.get("body", "")))
    if not ids:
        log.info("message %s names no file: dropped", record.get("messageId"))
    done = True
    for file_id in ids:
        try:
            outcome = _index(db_url, settings, file_id, final, parts, pending_wait_s)
        except ingest.Transient as exc:
            log.warning("file %s: transient failure (receive %d): %s", file_id, receives, exc)
            done = False
            continue
        except Exception:  # noqa: BLE001 - the database or the network: SQS tries again
            log.exception("file %s: indexing raised (receive %d)", file_id, receives)
            done = False
            continue
        log.info("file %s: %s", file_id, outcome)
        if outcome in ("busy", "pending") and not final:
            done = False
    return done


def _index(db_url: str, settings: Settings, file_id: str, final: bool, parts: ingest.Parts | None,
           pending_wait_s: float) -> ingest.Outcome:
    outcome = ingest.index_file(db_url, settings, file_id, final_attempt=final, parts=parts)
    if outcome != "pending":
        return outcome
    if not _wait_for(lambda: _status(db_url, file_id) != "uploading", pending_wait_s):
        return "pending"
    return ingest.index_file(db_url, settings, file_id, final_attempt=final, parts=parts)


def _status(db_url: str, file_id: str) -> str | None:
    row = run(db_url, lambda db: db.execute("SELECT status FROM files WHERE id = ?", file_id).fetchone())
    return str(row[0]) if row else None


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(PENDING_POLL_S)


def is_schedule(event: Any) -> bool:
    """The indexer's scheduled run (EventBridge), not an SQS batch."""
    return isinstance(event, dict) and event.get("source") == "aws.events"

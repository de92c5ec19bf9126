"""Lambda "indexer": indexes uploaded files (docs/documents.md).

- From the index queue (SQS), whose messages are the files bucket's S3 event
  notifications: each names a file, indexed by the core (documents/notifications.py).
  Answers `batchItemFailures` (ReportBatchItemFailures) with the messages to retry.
- On its schedule (EventBridge): housekeeping (documents/ingest.py `sweep`): uploads never
  completed become failed, files of another embedding model are re-indexed, and files left
  queued (a lost notification) are indexed, within the invocation's time.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="omnichat")
SWEEP_MARGIN_MS = 60_000  # left for the last file's commit when the schedule's sweep stops starting files


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from omnichat.config import get_settings
    from omnichat.documents import ingest, notifications

    settings = get_settings()
    url = settings.resolved_database_url
    if notifications.is_schedule(event):
        remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: 300_000)()
        done = ingest.sweep(url, settings, budget_s=max(0, remaining_ms - SWEEP_MARGIN_MS) / 1000)
        logger.info("sweep", extra=done)
        return done
    answer = notifications.handle(event, url, settings)
    if answer["batchItemFailures"]:
        logger.warning("messages to retry", extra={"failures": answer["batchItemFailures"]})
    return answer

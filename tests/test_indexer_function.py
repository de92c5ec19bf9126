"""The AWS indexer path (functions/indexer, documents/notifications.py) against moto's
server: the object written to S3 (the project's S3Storage), S3's event notification
delivered by moto to SQS, the indexer's handler invoked with the SQS event Lambda builds
from the received messages, and Lambda's poller emulated for what SQS then does with the
answer (delete the done, make the failed visible again, redrive after maxReceiveCount).

Proves: a test event and foreign keys are dropped; a notification indexes its file; a
redelivered one is a no-op; a transient error is reported in batchItemFailures and the file
is indexed on the retry; a permanently bad file is failed and its message not retried; a
poison message ends in the dead-letter queue after 5 receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote_plus

import pytest

from local.serve import moto_server
from omnichat.db import lite
from omnichat.documents import embedder, ingest, notifications, sniff
from omnichat.documents.storage import S3Storage, object_key
from omnichat.documents.store import DatabaseStore
from omnichat.ids import new_id
from tests.ollama_server import ollama_server  # noqa: F401 - the shared fixture

boto3 = pytest.importorskip("boto3")
MODEL = "ollama/omnichat-test:latest"
BUCKET = "omnichat-files-test"
REGION = "us-east-1"
CONTEXT = SimpleNamespace(function_name="omnichat-indexer", aws_request_id="req-1", log_stream_name="stream",
                          memory_limit_in_mb=2048, invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:"
                          "function:omnichat-indexer", get_remaining_time_in_millis=lambda: 300_000)


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh account: the files bucket notifying the index queue, which redrives to a DLQ
    after 5 receives, as template.yaml declares them."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST"), timeout=10).close()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto)
    dlq = sqs.create_queue(QueueName="index-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="index", Attributes={
        "VisibilityTimeout": "1800",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": notifications.MAX_RECEIVES}),
    })["QueueUrl"]
    [queue_arn] = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"].values()
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "files/"}]}}}]})
    return {"s3": s3, "sqs": sqs, "queue": queue, "queue_arn": queue_arn, "dlq": dlq, "url": moto}


@pytest.fixture
def live(settings, ollama_server, aws):  # noqa: F811
    return settings.with_overrides(ollama_host=ollama_server.url, embed_model=MODEL, files_bucket=BUCKET,
                                   s3_endpoint=aws["url"], aws_region=REGION, index_queue_url=aws["queue"])


@pytest.fixture
def storage(aws) -> S3Storage:
    return S3Storage(BUCKET, aws["url"], REGION)


def upload(db_url: str, storage: S3Storage, user_id: str, data: bytes, content_type: str = sniff.TEXT,
           status: str = "queued") -> str:
    """What the REST API does for a multipart upload: the row, then its own PUT (S3 notifies)."""
    file_id = new_id()
    now = lite.utcnow()
    lite.run(db_url, lambda db: db.insert("files", {
        "id": file_id, "user_id": user_id, "name": "notes.txt", "kind": "document", "content_type": content_type,
        "size": len(data), "storage_key": object_key(user_id, file_id), "status": status, "progress": 0,
        "chunk_count": 0, "created_at": now, "updated_at": now}))
    storage.put(object_key(user_id, file_id), data)
    return file_id


def receive(aws: dict[str, Any], queue: str = "queue") -> list[dict[str, Any]]:
    """Lambda's poller: received messages as the records of an SQS event."""
    got = aws["sqs"].receive_message(QueueUrl=aws[queue], MaxNumberOfMessages=10, AttributeNames=["All"],
                                     WaitTimeSeconds=1).get("Messages", [])
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
             "eventSource": "aws:sqs", "eventSourceARN": aws["queue_arn"], "awsRegion": REGION} for m in got]


def settle(aws: dict[str, Any], records: list[dict[str, Any]], answer: dict[str, Any]) -> None:
    """What Lambda does with a ReportBatchItemFailures answer: deletes the messages done;
    the failed ones come back (here at once instead of after the visibility timeout)."""
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    for r in records:
        if r["messageId"] in failed:
            aws["sqs"].change_message_visibility(QueueUrl=aws["queue"], ReceiptHandle=r["receiptHandle"],
                                                 VisibilityTimeout=0)
        else:
            aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=r["receiptHandle"])


def parts(storage, embed=None) -> ingest.Parts:
    return ingest.Parts(storage=storage, embed=embed, store=DatabaseStore())


def status(db_url: str, file_id: str) -> tuple[str, str | None, int]:
    return lite.run(db_url, lambda db: tuple(db.execute("SELECT status, error, chunk_count FROM files WHERE id = ?",
                                                        file_id).fetchone()))


def drain_test_event(aws, db_url, live, storage) -> None:
    records = receive(aws)
    assert [json.loads(r["body"]).get("Event") for r in records] == ["s3:TestEvent"]
    answer = notifications.handle({"Records": records}, db_url, live, parts=parts(storage))
    assert answer == {"batchItemFailures": []}  # acknowledged, never retried
    settle(aws, records, answer)


# -------------------------------------------------------------------------------- tests
def test_the_notification_of_an_upload_indexes_its_file_once(db_url, live, storage, user_id, aws):
    drain_test_event(aws, db_url, live, storage)
    file_id = upload(db_url, storage, user_id, b"Walruses sleep on the ice. " * 40)
    records = receive(aws)
    [record] = records
    body = json.loads(record["body"])["Records"][0]
    # URL-encoded, as S3 writes keys in notifications (moto encodes the slashes too)
    assert body["eventName"].startswith("ObjectCreated:")
    assert unquote_plus(body["s3"]["object"]["key"]) == f"files/{user_id}/{file_id}"
    answer = notifications.handle({"Records": records}, db_url, live, parts=parts(storage))
    assert answer == {"batchItemFailures": []}
    assert status(db_url, file_id)[0] == "ready" and status(db_url, file_id)[2] >= 1
    settle(aws, records, answer)
    # SQS delivers at least once: the same message again changes nothing.
    assert notifications.handle({"Records": records}, db_url, live, parts=parts(storage)) == {"batchItemFailures": []}
    assert receive(aws) == []


def test_the_handler_runs_with_the_real_event_shape(db_url, live, storage, user_id, aws, monkeypatch):
    from omnichat.config import get_settings
    from tests.stack.test_handlers import load  # the handlers' loader, as Lambda imports them

    drain_test_event(aws, db_url, live, storage)
    file_id = upload(db_url, storage, user_id, b"Handler path text. " * 20)
    for name, value in {"DATABASE_URL": db_url, "OMNICHAT_FILES_BUCKET": BUCKET, "AWS_ENDPOINT_URL_S3": aws["url"],
                        "OMNICHAT_INDEX_QUEUE_URL": aws["queue"], "OMNICHAT_EMBED_MODEL": MODEL,
                        "OLLAMA_HOST": live.ollama_host, "OMNICHAT_HOME": str(live.home)}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        handler = load(__import__("pathlib").Path("functions/indexer/app.py").resolve(), "indexer_app").handler
        records = receive(aws)
        assert handler({"Records": records}, CONTEXT) == {"batchItemFailures": []}
        assert status(db_url, file_id)[0] == "ready"
        assert handler({"Records": [{"messageId": "x", "body": "not json", "attributes": {}}]}, CONTEXT) == \
            {"batchItemFailures": []}  # meaningless: dropped, not retried
    finally:
        get_settings.cache_clear()


def test_a_transient_error_is_retried_and_then_indexes(db_url, live, storage, user_id, aws):
    from omnichat.providers.errors import Throttled

    drain_test_event(aws, db_url, live, storage)
    file_id = upload(db_url, storage, user_id, b"Retry me. " * 30)
    calls = []

    def throttled_once(settings, texts, model=None):
        calls.append(1)
        if len(calls) == 1:
            raise Throttled("slow down")
        return embedder.embed(settings, texts, model)

    records = receive(aws)
    answer = notifications.handle({"Records": records}, db_url, live, parts=parts(storage, throttled_once))
    assert answer == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    assert status(db_url, file_id) == ("queued", None, 0)
    settle(aws, records, answer)
    again = receive(aws)
    assert [r["messageId"] for r in again] == [records[0]["messageId"]]
    assert again[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert notifications.handle({"Records": again}, db_url, live,
                                parts=parts(storage, throttled_once)) == {"batchItemFailures": []}
    assert status(db_url, file_id)[0] == "ready"


def test_a_permanently_bad_file_fails_and_its_message_is_not_retried(db_url, live, storage, user_id, aws):
    drain_test_event(aws, db_url, live, storage)
    file_id = upload(db_url, storage, user_id, b"%PDF-1.7\n" + bytes(range(256)) * 10, sniff.PDF)
    records = receive(aws)
    answer = notifications.handle({"Records": records}, db_url, live, parts=parts(storage))
    assert answer == {"batchItemFailures": []}
    state, error, chunks = status(db_url, file_id)
    assert state == "failed" and "pdf" in (error or "").lower() and chunks == 0


def test_a_poison_message_ends_in_the_dead_letter_queue_after_max_receives(db_url, live, storage, user_id, aws):
    drain_test_event(aws, db_url, live, storage)
    file_id = upload(db_url, storage, user_id, b"Never indexed. " * 10)
    down = "postgresql+pg8000://nobody@127.0.0.1:9/none"  # the database unreachable on every receive
    for receives in range(1, notifications.MAX_RECEIVES + 1):
        records = receive(aws)
        assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == [str(receives)]
        answer = notifications.handle({"Records": records}, down, live, parts=parts(storage))
        assert len(answer["batchItemFailures"]) == 1
        settle(aws, records, answer)
    assert receive(aws) == []  # the 6th receive moved it to the DLQ
    [dead] = receive(aws, "dlq")
    assert json.loads(dead["body"])["Records"][0]["s3"]["object"]["key"].endswith(file_id)
    assert status(db_url, file_id)[0] == "queued"  # the scheduled sweep (or a redrive) indexes it later


def test_an_uploading_file_waits_for_its_completion_then_is_retried(db_url, live, storage, user_id, aws):
    drain_test_event(aws, db_url, live, storage)
    file_id = upload(db_url, storage, user_id, b"Presigned POST. " * 10, status="uploading")
    records = receive(aws)
    answer = notifications.handle({"Records": records}, db_url, live, parts=parts(storage), pending_wait_s=0.2)
    assert len(answer["batchItemFailures"]) == 1 and status(db_url, file_id)[0] == "uploading"
    lite.run(db_url, lambda db: db.execute("UPDATE files SET status = 'queued' WHERE id = ?", file_id))  # /complete
    settle(aws, records, answer)
    assert notifications.handle({"Records": receive(aws)}, db_url, live, parts=parts(storage)) == \
        {"batchItemFailures": []}
    assert status(db_url, file_id)[0] == "ready"


@pytest.mark.parametrize("body", [
    json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}),
    json.dumps({"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "files/u/f"}}}]}),
    json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "other/thing"}}}]}),
    json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "files/../../etc"}}}]}),
    "[1, 2]", "", "{\"Records\": 7}",
])
def test_messages_that_name_no_file_name_nothing(body):
    assert notifications.file_ids(body) == []


def test_keys_are_url_decoded_as_s3_encodes_them():
    body = json.dumps({"Records": [{"eventName": "ObjectCreated:Post",
                                    "s3": {"object": {"key": "files%2Fuser-1%2Ffile_2"}}}]})
    assert notifications.file_ids(body) == ["file_2"]

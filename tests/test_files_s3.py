"""Files in a private S3 bucket (moto's server on loopback): the presigned POST policy and
its signature are byte for byte what botocore's `generate_presigned_post` makes; a direct
upload is a real multipart POST of the presigned fields by httpx, completed through the
API; the one-request upload, the content and the delete go through the small SigV4 client.

moto stores whatever a form POSTs without reading its policy, so the bucket here is made
to check it as S3 documents ("Creating a POST policy", "Calculating a signature"): the
signature with the derived key, the expiration, every condition, content-length-range on
the file. S3's refusals of a too-large body and of an expired policy are proved against
that; the API's completion checks the stored size again (an object put past the policy is
refused and deleted)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import boto3
import httpx
import pytest
from botocore.config import Config
from fastapi.testclient import TestClient

from local.serve import moto_server
from omnichat.documents.storage import POLICY_TIME, S3Storage, signing_key
from tests.conftest import app_for
from tests.helpers import assert_error, sign_up

BUCKET = "omnichat-files"
SECRET = "testing-secret"


def _check_policy(form: dict[str, str], size: int, bucket: str) -> tuple[int, str] | None:
    """S3's checks of a browser POST (SigV4): None when the upload may be stored, else the
    status and error code S3 answers."""
    try:
        policy = json.loads(base64.b64decode(form["policy"]))
        _, day, region, service, _ = form["x-amz-credential"].split("/")
    except (KeyError, ValueError):
        return 400, "InvalidPolicyDocument"
    expected = hmac.new(signing_key(SECRET, day, region, service), form["policy"].encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, form.get("x-amz-signature", "")):
        return 403, "SignatureDoesNotMatch"
    if datetime.strptime(policy["expiration"], POLICY_TIME).replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc):
        return 403, "AccessDenied"  # "Invalid according to Policy: Policy expired."
    values = {**{k.lower(): v for k, v in form.items()}, "bucket": bucket}
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            (name, value), = condition.items()
            if values.get(name.lower()) != value:
                return 403, "AccessDenied"
        elif condition[0] == "content-length-range":
            if size > condition[2]:
                return 400, "EntityTooLarge"
            if size < condition[1]:
                return 400, "EntityTooSmall"
        elif condition[0] == "eq" and values.get(condition[1].lstrip("$").lower()) != condition[2]:
            return 403, "AccessDenied"
    return None


@pytest.fixture(scope="module")
def moto_url():
    from moto.s3.responses import S3Response

    plain = S3Response._bucket_response_post

    def checked(self, request, bucket_name):  # type: ignore[no-untyped-def]
        if "policy" in self.querystring:  # a browser POST: S3 checks it before storing anything
            form = {k: v[0] for k, v in self.querystring.items() if k != "file"}
            body = self.body if isinstance(self.body, bytes) else str(self.body).encode()
            refused = _check_policy(form, len(body), bucket_name)
            if refused:
                return refused[0], {}, f"<Error><Code>{refused[1]}</Code></Error>"
        return plain(self, request, bucket_name)

    S3Response._bucket_response_post = checked
    try:
        with moto_server() as url:
            yield url
    finally:
        S3Response._bucket_response_post = plain


@pytest.fixture
def s3(monkeypatch, moto_url):
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": SECRET,
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


@pytest.fixture
def api(settings, s3, moto_url, queued):
    from omnichat.api.app import create_app

    app = app_for(create_app, settings.with_overrides(files_bucket=BUCKET, s3_endpoint=moto_url, max_file_bytes=1000))
    with TestClient(app) as client:
        yield client


def _key(s3, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def _post(upload: dict, data: bytes) -> httpx.Response:
    """What a browser does with the form: the fields, then the file, as multipart/form-data."""
    return httpx.post(upload["url"], data=upload["fields"], files={"file": ("upload.bin", data)}, timeout=10)


@pytest.mark.parametrize("token", [None, "session-token-value"])
def test_the_presigned_post_is_botocores(monkeypatch, token):
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    else:
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    import botocore.auth
    import botocore.signers

    frozen = lambda remove_tzinfo=True: now.replace(tzinfo=None)  # noqa: E731 - botocore's clock, stopped
    monkeypatch.setattr(botocore.signers, "get_current_datetime", frozen, raising=False)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", frozen, raising=False)
    ours = S3Storage(BUCKET, "http://127.0.0.1:9", "eu-west-1").presign_post("files/u1/f1", 1234, 900, now=now)
    client = boto3.client("s3", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                          aws_session_token=token, config=Config(signature_version="s3v4"))
    theirs = client.generate_presigned_post(BUCKET, "files/u1/f1", Conditions=[["content-length-range", 1, 1234]],
                                            ExpiresIn=900)
    assert ours.url == theirs["url"].rstrip("/")
    assert ours.fields == theirs["fields"]
    assert ours.expires_at == now + timedelta(seconds=900)
    policy = json.loads(base64.b64decode(ours.fields["policy"]))
    assert policy["expiration"] == "2025-03-04T05:21:07Z"
    assert ["content-length-range", 1, 1234] in policy["conditions"] and {"key": "files/u1/f1"} in policy["conditions"]


def test_a_direct_upload_to_the_bucket(api, s3, queued):
    who = sign_up(api, "alice@example.com")
    text = b"# Notes\n\nStraight to the bucket.\n"
    started = api.post("/api/files/uploads", json={"name": "notes.md", "size": len(text)}, headers=who.headers)
    assert started.status_code == 201, started.text
    file, upload = started.json()["file"], started.json()["upload"]
    assert upload["url"].endswith(f"/{BUCKET}") and upload["fields"]["key"] == f"files/{who.id}/{file['id']}"
    assert set(upload["fields"]) == {"key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                                     "x-amz-signature"}
    assert_error(api.post(f"/api/files/{file['id']}/complete", headers=who.headers), 409, "upload_missing")

    # S3 refuses what the policy does not allow: more than the declared size, another key.
    too_large = _post(upload, text + b"!")
    assert too_large.status_code == 400 and b"EntityTooLarge" in too_large.content
    assert _post({**upload, "fields": {**upload["fields"], "key": f"files/{who.id}/other"}}, text).status_code == 403
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0

    assert _post(upload, text).status_code == 204
    done = api.post(f"/api/files/{file['id']}/complete", headers=who.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "queued" and done.json()["content_type"] == "text/markdown"
    assert queued == [file["id"]]
    again = api.post(f"/api/files/{file['id']}/complete", headers=who.headers)
    assert again.json() == done.json() and queued == [file["id"]]
    assert api.get(f"/api/files/{file['id']}/content", headers=who.headers).content == text
    # The local form's route does not take uploads when the files are in a bucket.
    local_form = {"key": upload["fields"]["key"], "policy": upload["fields"]["policy"], "signature": "0" * 64}
    assert_error(api.post(f"/api/files/{file['id']}/upload", data=local_form, files={"file": ("x", text)}), 404)

    assert api.delete(f"/api/files/{file['id']}", headers=who.headers).status_code == 204
    assert _key(s3, upload["fields"]["key"]) is None


def test_s3_refuses_an_expired_policy(s3, moto_url):
    storage = S3Storage(BUCKET, moto_url, "us-east-1")
    past = datetime.now(timezone.utc) - timedelta(minutes=20)
    expired = storage.presign_post("files/u1/late", 100, 900, now=past)  # ended 5 minutes ago
    r = _post({"url": expired.url, "fields": expired.fields}, b"late")
    assert r.status_code == 403 and b"AccessDenied" in r.content
    fresh = storage.presign_post("files/u1/late", 100, 900)
    assert _post({"url": fresh.url, "fields": fresh.fields}, b"in time").status_code == 204
    assert _key(s3, "files/u1/late") == b"in time"
    forged = {**fresh.fields, "x-amz-signature": "0" * 64}
    assert _post({"url": fresh.url, "fields": forged}, b"forged").status_code == 403


def test_completion_checks_the_stored_object_itself(api, s3):
    """Whatever reached the bucket, completion holds it to the declared size and the limit,
    and to a type from its bytes; a refused object is deleted."""
    who = sign_up(api, "bob@example.com")
    body = api.post("/api/files/uploads", json={"name": "a.txt", "size": 10}, headers=who.headers).json()
    key = body["upload"]["fields"]["key"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 11)  # past the policy, as if S3 had not checked
    assert_error(api.post(f"/api/files/{body['file']['id']}/complete", headers=who.headers), 413, "file_too_large")
    assert _key(s3, key) is None
    failed = api.get(f"/api/files/{body['file']['id']}", headers=who.headers).json()
    assert failed["status"] == "failed" and failed["size"] == 0

    body = api.post("/api/files/uploads", json={"name": "a.pdf", "size": 68}, headers=who.headers).json()
    key = body["upload"]["fields"]["key"]
    assert _post(body["upload"], b"\x7fELF" + b"\x00" * 64).status_code == 204
    assert_error(api.post(f"/api/files/{body['file']['id']}/complete", headers=who.headers), 415, "unsupported_type")
    assert _key(s3, key) is None


def test_a_one_request_upload_is_put_in_the_bucket(api, s3, queued):
    who = sign_up(api, "carol@example.com")
    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40
    r = api.post("/api/files", files={"file": ("cat.png", png)}, headers=who.headers)
    assert r.status_code == 201, r.text
    file = r.json()
    assert file["status"] == "ready" and queued == []
    assert _key(s3, f"files/{who.id}/{file['id']}") == png
    got = api.get(f"/api/files/{file['id']}/content", headers=who.headers)
    assert got.content == png and got.headers["content-type"] == "image/png"
    assert api.delete(f"/api/files/{file['id']}", headers=who.headers).status_code == 204
    assert _key(s3, f"files/{who.id}/{file['id']}") is None


def test_storage_reads_sizes_and_deletes(s3, moto_url):
    storage = S3Storage(BUCKET, moto_url, "us-east-1")
    assert storage.size("files/u/none") is None and not storage.exists("files/u/none")
    storage.put("files/u/one", b"12345")
    assert storage.size("files/u/one") == 5 and storage.get("files/u/one") == b"12345"
    storage.delete("files/u/one")
    storage.delete("files/u/one")  # nothing there: nothing happens
    assert storage.size("files/u/one") is None
    with pytest.raises(ValueError):
        storage.put("../escape", b"x")

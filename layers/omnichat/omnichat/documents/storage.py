"""Where the bytes of uploaded files live, behind one small `Storage` protocol:

- `LocalStorage`: files under the stack's home (`home/files/<key>`, mode 0600); a key never
  leads out of that folder. Its direct uploads go to this API (`POST /api/files/{id}/upload`)
  with a signed, single-use form, checked by `accept_post`.
- `S3Storage`: a private bucket (`files_bucket`, `s3_endpoint` for moto or LocalStack),
  over the project's small SigV4 client (aws/client.py: no boto3 on the api function's
  path). Direct uploads are S3 presigned POSTs, signed here as AWS documents it (and as
  botocore's `generate_presigned_post` does: tests/test_files_s3.py compares the two): a
  policy with an expiration, the bucket, the exact key and `content-length-range` 1..max.

Object keys are `files/<user id>/<file id>` (`object_key`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from omnichat.errors import AppError, BadRequest, Conflict, PayloadTooLarge

if TYPE_CHECKING:
    from omnichat.aws.client import AwsHttpClient
    from omnichat.config import Settings

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}(/[A-Za-z0-9][A-Za-z0-9_-]{0,99}){0,4}")
POLICY_TIME = "%Y-%m-%dT%H:%M:%SZ"  # botocore.auth.ISO8601
AMZ_DATE = "%Y%m%dT%H%M%SZ"


class StorageError(AppError):
    """The store refused or could not be reached (logged with its detail; 502 to the client)."""

    status, code = 502, "storage_unavailable"


@dataclass(frozen=True)
class PresignedPost:
    """Where and how a client uploads one object: POST `fields`, then the file (last), as
    multipart/form-data to `url`, before `expires_at`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None:
        """Removes the object; nothing happens when there is none."""
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int | None:
        """The object's size in bytes, None when there is none."""
    def presign_post(self, key: str, max_bytes: int, expires_s: int) -> PresignedPost: ...


def object_key(user_id: str, file_id: str) -> str:
    return f"files/{user_id}/{file_id}"


def check_key(key: str) -> str:
    """A key of letters, digits, `_` and `-` in at most five `/`-separated parts, none
    starting with a dot or a dash: nothing that could name a path outside the store."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


def storage_for(settings: Settings) -> Storage:
    """The bucket when `files_bucket` is set, else the files under the home."""
    if settings.files_bucket:
        return S3Storage(settings.files_bucket, settings.s3_endpoint, settings.aws_region)
    return LocalStorage(settings.home / "files")


# ---------------------------------------------------------------------------------- local
class LocalStorage:
    """Objects as files under `root` (created 0700, files 0600, written whole or not at all)."""

    UPLOAD_PATH = "/api/files/{file_id}/upload"  # routers/files.py's local_upload

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*check_key(key).split("/"))
        if self.root.resolve() not in path.resolve().parents:  # no symlink leads out either
            raise ValueError(f"not a storage key: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".part-")  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError("The file's content is missing", code="object_missing") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    # ---- direct uploads to this API
    def _signing_key(self) -> bytes:
        """A random key kept beside the objects (0600), made at the first upload: every
        process of the local stack shares it, and nothing else signs with it."""
        path = self.root / ".upload-key"
        if not path.exists():
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
        for _ in range(50):  # the other process may still be writing it
            text = path.read_text().strip()
            if len(text) == 64:
                return text.encode()
        raise StorageError("The upload signing key is unreadable", code="storage_unavailable")

    def presign_post(self, key: str, max_bytes: int, expires_s: int) -> PresignedPost:
        file_id = check_key(key).rsplit("/", 1)[-1]
        expires_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=expires_s)
        policy = base64.b64encode(json.dumps({"expiration": expires_at.strftime(POLICY_TIME), "key": key,
                                              "max_bytes": max_bytes}).encode()).decode()
        signature = hmac.new(self._signing_key(), policy.encode(), hashlib.sha256).hexdigest()
        return PresignedPost(self.UPLOAD_PATH.format(file_id=file_id),
                             {"key": key, "policy": policy, "signature": signature}, expires_at)

    def accept_post(self, key: str, fields: dict[str, str], data: bytes) -> None:
        """Stores `data` under `key` if `fields` are the form `presign_post` made for that
        key, its time has not passed, the size is within 1..max and nothing was stored yet
        (the form is good for one upload; the caller serializes uploads of one key)."""
        policy, signature = fields.get("policy", ""), fields.get("signature", "")
        expected = hmac.new(self._signing_key(), policy.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise BadRequest("The upload form is not valid for this file", code="invalid_upload_signature")
        try:
            terms = json.loads(base64.b64decode(policy, validate=True))
            expiration = datetime.strptime(terms["expiration"], POLICY_TIME).replace(tzinfo=timezone.utc)
            limit, signed_key = int(terms["max_bytes"]), str(terms["key"])
        except (ValueError, KeyError, TypeError):
            raise BadRequest("The upload form is not valid for this file", code="invalid_upload_signature") from None
        if signed_key != key or fields.get("key", key) != key:
            raise BadRequest("The upload form is not valid for this file", code="invalid_upload_signature")
        if datetime.now(timezone.utc) >= expiration:
            raise UploadExpired()
        if not data:
            raise BadRequest("The file is empty", code="empty_file")
        if len(data) > limit:
            raise PayloadTooLarge(f"A file has at most {limit} bytes", code="file_too_large")
        if self.exists(key):
            raise Conflict("This upload form has been used already", code="upload_used")
        self.put(key, data)


class UploadExpired(AppError):
    status, code = 409, "upload_expired"

    def __init__(self) -> None:
        super().__init__("The upload was not completed in time: start it again")


# ------------------------------------------------------------------------------------- S3
class S3Storage:
    """A private bucket. Requests are signed SigV4 with the function's credentials
    (aws/sigv4.py); the endpoint is `s3_endpoint` (path-style, for moto or LocalStack) or
    the bucket's own virtual-hosted name in AWS."""

    def __init__(self, bucket: str, endpoint: str = "", region: str = "us-east-1") -> None:
        self.bucket, self.region = bucket, region or "us-east-1"
        if endpoint:
            self.url = f"{endpoint.rstrip('/')}/{bucket}"
        elif "." in bucket:  # a dotted name does not fit the wildcard certificate
            self.url = f"https://s3.{self.region}.amazonaws.com/{bucket}"
        else:
            self.url = f"https://{bucket}.s3.{self.region}.amazonaws.com"
        self._client: AwsHttpClient | None = None

    @property
    def client(self) -> AwsHttpClient:
        if self._client is None:
            from omnichat.aws.client import AwsHttpClient

            self._client = AwsHttpClient(self.url, "s3", self.region, read_timeout=60.0)
        return self._client

    def _call(self, method: str, key: str, body: bytes = b"") -> tuple[dict[str, str], bytes]:
        from omnichat.aws.client import AwsError

        headers = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
        try:
            answer_headers, data = self.client.call(method, "/" + check_key(key), body, headers)
        except AwsError as error:
            if error.status == 404:
                raise StorageError("The file's content is missing", code="object_missing", status=404) from None
            raise StorageError("The file store refused the request", detail=str(error)) from None
        except OSError as error:
            raise StorageError("The file store cannot be reached", detail=repr(error)) from None
        return {k.lower(): v for k, v in answer_headers.items()}, data

    def put(self, key: str, data: bytes) -> None:
        self._call("PUT", key, data)

    def get(self, key: str) -> bytes:
        return self._call("GET", key)[1]

    def delete(self, key: str) -> None:
        self._call("DELETE", key)  # S3 answers 204 for a key it does not have

    def size(self, key: str) -> int | None:
        try:
            headers, _ = self._call("HEAD", key)
        except StorageError as error:
            if error.code == "object_missing":
                return None
            raise
        return int(headers.get("content-length", "0"))

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def presign_post(self, key: str, max_bytes: int, expires_s: int, *,
                     now: datetime | None = None) -> PresignedPost:
        """A POST policy signed with SigV4 (AWS's "Browser-based uploads using POST"):
        the form holds `key`, the algorithm, credential, date, session token (temporary
        credentials), the base64 policy and its signature; S3 refuses a body outside
        1..max_bytes, another key or bucket, and any upload after the expiration."""
        from omnichat.aws import sigv4

        credentials = sigv4.credentials()
        if credentials is None:
            raise StorageError("No AWS credentials to sign the upload with", code="storage_unavailable")
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
        expires_at = now + timedelta(seconds=expires_s)
        stamp = now.strftime(AMZ_DATE)
        credential = f"{credentials.access_key}/{stamp[:8]}/{self.region}/s3/aws4_request"
        fields = {"key": check_key(key), "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential,
                  "x-amz-date": stamp}
        conditions: list[object] = [["content-length-range", 1, max_bytes], {"bucket": self.bucket}, {"key": key},
                                    {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": credential},
                                    {"x-amz-date": stamp}]
        if credentials.token:
            fields["x-amz-security-token"] = credentials.token
            conditions.append({"x-amz-security-token": credentials.token})
        policy = base64.b64encode(json.dumps({"expiration": expires_at.strftime(POLICY_TIME),
                                              "conditions": conditions}).encode()).decode()
        fields["policy"] = policy
        fields["x-amz-signature"] = hmac.new(signing_key(credentials.secret_key, stamp[:8], self.region, "s3"),
                                             policy.encode(), hashlib.sha256).hexdigest()
        return PresignedPost(self.url, fields, expires_at)


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key: HMAC chain of the day, region, service and "aws4_request"."""
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key

"""Secrets Manager GetSecretValue (JSON 1.1 protocol, one signed POST), cached per process.

Every function reads the database credentials and the JWT secret at its first request;
through boto3 (or Powertools' parameters utility, which wraps it) that alone added about
200 ms and 45 MB to each cold start."""

from __future__ import annotations

import json
import os
import threading
import time

from omnichat.aws.client import AwsHttpClient, endpoint_for

_cache: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def get_secret(secret_id: str, *, max_age: float = 300.0, region: str | None = None) -> str:
    """The secret's SecretString (or its SecretBinary, decoded), at most `max_age` seconds old."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(secret_id)
    if cached and now - cached[0] < max_age:
        return cached[1]
    value = _fetch(secret_id, region or _region_of(secret_id))
    with _lock:
        _cache[secret_id] = (now, value)
    return value


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _region_of(secret_id: str) -> str:
    parts = secret_id.split(":")  # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME
    if len(parts) > 3 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _fetch(secret_id: str, region: str) -> str:
    client = AwsHttpClient(endpoint_for("secrets_manager", "secretsmanager", region), "secretsmanager", region)
    reply = json.loads(client.request(
        "POST", "/", json.dumps({"SecretId": secret_id}).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}))
    if "SecretString" in reply:
        return str(reply["SecretString"])
    import base64

    return base64.b64decode(reply["SecretBinary"]).decode()

"""AWS Signature Version 4 for one request, with the standard library only.

The WebSocket functions post every answer through the Management API; creating a boto3
client for that costs about 200 ms and 45 MB at a cold start, signing a request by hand
costs nothing. The algorithm is AWS's published one (canonical request, string to sign,
derived key); `tests/test_aws_clients.py` checks every signature against botocore's own signer.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


_chain: Any = None  # botocore's credential chain, once needed (refreshes itself)
_chain_lock = threading.Lock()


def credentials() -> Credentials | None:
    """The function's credentials. An on-demand Lambda puts them in the environment. Under
    SnapStart, in an ECS task or with a profile they come from elsewhere (SnapStart: the
    container credentials endpoint), and botocore's credential chain is asked: built once,
    it refreshes temporary credentials before they expire."""
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return Credentials(access, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    global _chain
    with _chain_lock:
        if _chain is None:
            import botocore.session

            _chain = botocore.session.get_session().get_credentials() or False
    if not _chain:
        return None
    frozen = _chain.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def canonical_uri(path: str) -> str:
    # Every service but S3 signs the path URI-encoded once more than it is sent.
    return quote(path or "/", safe="/~")


def sign(method: str, url: str, headers: dict[str, str], body: bytes, *, service: str, region: str,
         credentials: Credentials, now: datetime | None = None) -> dict[str, str]:
    """`headers` plus what SigV4 adds (host, x-amz-date, the session token, Authorization):
    every header the request must be sent with."""
    parts = urlsplit(url)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = stamp
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    query = "&".join(f"{k}={v}" for k, v in sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(parts.query, keep_blank_values=True)))
    canonical = "\n".join([
        method.upper(), canonical_uri(parts.path), query,
        "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names), hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), stamp[:8]), region), service),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    added = ("host", "x-amz-date", "x-amz-security-token")
    out: dict[str, str] = {**headers, **{k: signed[k] for k in added if k in signed}}
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out

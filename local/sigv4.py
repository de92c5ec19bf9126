"""SigV4 verification for the local emulators (the Bedrock emulator, the API Gateway
Management API): a request's signature is recomputed with botocore's own signer.

OmniChat signs its AWS calls itself (omnichat.aws.sigv4); botocore is an independent
implementation, so a signing bug fails locally as it would against AWS. What to do with a
request that is unsigned or signed with an unknown key is each emulator's policy.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

MAX_SKEW_S = 300  # AWS refuses a signature more than 5 minutes from its own clock


@dataclass(frozen=True)
class Authorization:
    access_key: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def headers_of(scope: Mapping[str, Any]) -> dict[str, str]:
    """An ASGI scope's headers, names lower-cased."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def parse(value: str) -> Authorization | None:
    """`AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
    Signature=hex`, or None for anything else."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    parts = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    credential = parts.get("Credential", "").split("/")
    if len(credential) != 5 or not parts.get("SignedHeaders") or not parts.get("Signature"):
        return None
    access_key, date, region, service, _ = credential
    return Authorization(access_key, date, region, service, tuple(parts["SignedHeaders"].split(";")),
                         parts["Signature"])


def problem(scope: Mapping[str, Any], headers: Mapping[str, str], auth: Authorization, body: bytes, *,
            secret: str, region: str, service: str, now: datetime | None = None) -> str:
    """Why AWS would refuse this signature (its message), or "" when it is right."""
    if auth.region != region or auth.service != service:
        return (f"Credential should be scoped to a valid region and service "
                f"('{region}', '{service}'), not ('{auth.region}', '{auth.service}').")
    if "host" not in auth.signed_headers:
        return "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    stamp = headers.get("x-amz-date", "")
    if stamp[:8] != auth.date:
        return "Date in Credential scope does not match YYYYMMDD from X-Amz-Date."
    try:  # by hand: strptime costs a sixth of the whole check
        if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z":
            raise ValueError(stamp)
        signed_at = datetime(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]),
                             int(stamp[11:13]), int(stamp[13:15]), tzinfo=timezone.utc)
    except ValueError:
        return "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"."
    if abs(((now or datetime.now(timezone.utc)) - signed_at).total_seconds()) > MAX_SKEW_S:
        return f"Signature expired: {stamp} is not within 5 minutes of the server's time."
    if not hmac.compare_digest(signature(scope, headers, auth, body, secret), auth.signature):
        return ("The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.")
    return ""


def signature(scope: Mapping[str, Any], headers: Mapping[str, str], auth: Authorization, body: bytes,
              secret: str) -> str:
    """The signature botocore computes for this request, as received, with `secret`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")  # as sent
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"http://{headers.get('host', '')}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=scope["method"], url=url, data=body,
                         headers={name: headers.get(name, "") for name in auth.signed_headers})
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(auth.access_key, secret, headers.get("x-amz-security-token")),
                       auth.service, auth.region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)

"""SigV4 verification, as Bedrock does it, for the access keys the emulator knows.

OmniChat signs its Bedrock calls itself (omnichat.aws.sigv4), so the emulator checks every
signature made with a key it knows by recomputing it with botocore's own signer, an
independent implementation: a signing bug fails here as it would against AWS (403
InvalidSignatureException), not only in production. Unsigned requests and unknown keys
pass, so the emulator still serves any local client.
"""

from __future__ import annotations

import hmac
from typing import Any, Awaitable, Callable, Mapping

from .errors import AwsError

# The fake credentials the tests ("testing", moto's convention), `make local` and the
# benches sign with.
KNOWN_CREDENTIALS = {"testing": "testing", "local": "local", "bench": "bench"}
SERVICE = "bedrock"  # Bedrock Runtime and the control plane both sign as "bedrock"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class SignatureCheck:
    """ASGI middleware: a request signed with a known key must carry the right signature
    for this region; `/_emulator/*` (the test controls) is never checked."""

    def __init__(self, app: Any, credentials: Mapping[str, str], region: str) -> None:
        self.app, self.credentials, self.region = app, dict(credentials), region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = _parse(headers.get("authorization", ""))
        if authorization is None or authorization["access_key"] not in self.credentials:
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        problem = self._problem(scope, headers, authorization, body)
        if problem:
            response = AwsError("InvalidSignatureException", problem, status=403).to_response()
            return await response(scope, receive, send)
        await self.app(scope, _replay(body, receive), send)

    def _problem(self, scope: Scope, headers: dict[str, str], auth: dict[str, Any], body: bytes) -> str:
        if auth["region"] != self.region or auth["service"] != SERVICE:
            return (f"Credential should be scoped to a valid region and service "
                    f"('{self.region}', '{SERVICE}'), not ('{auth['region']}', '{auth['service']}').")
        if headers.get("x-amz-date", "")[:8] != auth["date"]:
            return "Date in Credential scope does not match YYYYMMDD from X-Amz-Date."
        expected = _signature(scope, headers, auth, body, self.credentials[auth["access_key"]])
        if not hmac.compare_digest(expected, auth["signature"]):
            return ("The request signature we calculated does not match the signature you provided. "
                    "Check your AWS Secret Access Key and signing method.")
        return ""


def _parse(value: str) -> dict[str, Any] | None:
    """`AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
    Signature=hex`, or None for anything else."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    parts = dict(p.strip().partition("=")[::2] for p in rest.split(","))
    credential = parts.get("Credential", "").split("/")
    if len(credential) != 5 or "SignedHeaders" not in parts or "Signature" not in parts:
        return None
    access_key, date, region, service, _ = credential
    return {"access_key": access_key, "date": date, "region": region, "service": service,
            "signed": parts["SignedHeaders"].split(";"), "signature": parts["Signature"]}


def _signature(scope: Scope, headers: dict[str, str], auth: dict[str, Any], body: bytes, secret: str) -> str:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")  # as sent
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"http://{headers.get('host', '')}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=scope["method"], url=url, data=body,
                         headers={name: headers.get(name, "") for name in auth["signed"]})
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(auth["access_key"], secret, headers.get("x-amz-security-token")),
                       auth["service"], auth["region"])
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the real channel (a streamed answer waits on it for the
    client's disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

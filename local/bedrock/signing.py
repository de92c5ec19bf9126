"""SigV4 verification, as Bedrock does it, for the access keys the emulator knows.

OmniChat signs its Bedrock calls itself (omnichat.aws.sigv4), so the emulator checks every
signature made with a key it knows (local/sigv4.py: botocore's own signer, an independent
implementation): a signing bug fails here as it would against AWS (403
InvalidSignatureException), not only in production. Unsigned requests and unknown keys
pass, so the emulator still serves any local client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from local import sigv4

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
        headers = sigv4.headers_of(scope)
        authorization = sigv4.parse(headers.get("authorization", ""))
        if authorization is None or authorization.access_key not in self.credentials:
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        problem = sigv4.problem(scope, headers, authorization, body, secret=self.credentials[authorization.access_key],
                                region=self.region, service=SERVICE)
        if problem:
            response = AwsError("InvalidSignatureException", problem, status=403).to_response()
            return await response(scope, receive, send)
        await self.app(scope, _replay(body, receive), send)


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

"""@connections takes only what the functions sign: a stranger who knows a connection id
(unsigned, the old well-known keys, a wrong secret, region, service, body or clock) is
refused with AWS's 403 and cannot read, post into or close the connection; the functions'
own boto3 client and OmniChat's signer (omnichat.aws) are served."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import connect

from local.gateway.management_auth import function_credentials, function_region
from local.gateway.server import RunningGateway
from omnichat.aws import sigv4

from .support import run
from .test_management import management_client

METHODS = ("GET", "POST", "DELETE")


def signed(method: str, url: str, body: bytes = b"", **changes: Any) -> dict[str, str]:
    """Headers signed by OmniChat's signer with the functions' keys, as the handlers sign,
    except for `changes` (service, region, secret, now)."""
    own = function_credentials()
    assert own is not None
    credentials = sigv4.Credentials(own.access_key, changes.pop("secret", own.secret_key), own.token)
    return sigv4.sign(method, url, {}, body, service=changes.pop("service", "execute-api"),
                      region=changes.pop("region", function_region("us-east-1")), credentials=credentials,
                      now=changes.pop("now", None))


def attempts(url: str) -> list[tuple[str, str, str, dict[str, str], bytes]]:
    """(what, expected error type, method, headers, body) for every refused request."""
    out = []
    for method in METHODS:
        body = b'{"injected": 1}' if method == "POST" else b""
        out += [
            ("unsigned", "MissingAuthenticationTokenException", method, {}, body),
            ("not SigV4", "IncompleteSignatureException", method, {"Authorization": "Basic bG9jYWw6bG9jYWw="}, body),
            ("wrong secret", "InvalidSignatureException", method, signed(method, url, body, secret="local"), body),
            ("other region", "InvalidSignatureException", method,
             signed(method, url, body, region="ap-south-2"), body),
            ("other service", "InvalidSignatureException", method, signed(method, url, body, service="bedrock"), body),
            ("10 minutes old", "InvalidSignatureException", method,
             signed(method, url, body, now=datetime.now(UTC) - timedelta(minutes=10)), body),
        ]
    tampered = signed("POST", url, b'{"signed": 1}')
    out.append(("body changed after signing", "InvalidSignatureException", "POST", tampered, b'{"injected": 2}'))
    return out


async def connection_id_of(ws: Any) -> str:
    await ws.send(json.dumps({"action": "echo"}))  # the fixture posts back with its own boto3 client
    return json.loads(await asyncio.wait_for(ws.recv(), 5))["connectionId"]


def test_strangers_cannot_read_post_into_or_close_a_connection(gateway: RunningGateway) -> None:
    async def scenario() -> tuple[list[tuple[str, str, int, dict[str, Any], str]], str, int]:
        async with connect(f"{gateway.ws_url}?ticket=good-stranger", user_agent_header="victim/1") as ws:
            connection_id = await connection_id_of(ws)
            url = f"{gateway.connections_url}/@connections/{connection_id}"
            seen = []
            async with httpx.AsyncClient(timeout=5) as http:
                for what, _, method, headers, body in attempts(url):
                    r = await http.request(method, url, headers=headers, content=body)
                    seen.append((what, method, r.status_code, r.json(), r.headers.get("x-amzn-errortype", "")))
            # Still open, and nothing was injected: the next frame is the functions' own post.
            own = management_client(gateway.connections_url)
            await asyncio.to_thread(own.post_to_connection, ConnectionId=connection_id, Data=b"from the function")
            first = await asyncio.wait_for(ws.recv(), 5)
            await asyncio.to_thread(own.delete_connection, ConnectionId=connection_id)
            await ws.wait_closed()
            return seen, first, ws.close_code

    seen, first, code = run(scenario())
    expected = {(what, method): error for what, error, method, _, _ in attempts("http://x/@connections/c")}
    assert len(seen) == len(expected) == 19
    for what, method, status, body, error_type in seen:
        assert (status, error_type) == (403, expected[(what, method)]), (what, method, body)
        assert set(body) == {"message"} and body["message"]  # AWS's shape, no identity
    assert first == "from the function" and code == 1000


@pytest.mark.parametrize("keys", [
    {"aws_access_key_id": "local", "aws_secret_access_key": "local"},  # the emulator's old fixed pair
    {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
])
def test_boto3_with_other_keys_is_refused(gateway: RunningGateway, keys: dict[str, str]) -> None:
    client = management_client(gateway.connections_url, **keys)
    for call in (lambda: client.get_connection(ConnectionId="c1"),
                 lambda: client.post_to_connection(ConnectionId="c1", Data=b"x"),
                 lambda: client.delete_connection(ConnectionId="c1")):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_functions_keys_are_made_at_start_and_not_the_fixed_pair(gateway: RunningGateway) -> None:
    own = function_credentials()
    assert own is not None and own.access_key.startswith("LOCAL") and len(own.secret_key) >= 40


def test_omnichats_own_signer_is_served(gateway: RunningGateway) -> None:
    """What ws_chat runs: omnichat.aws's ManagementApi with the functions' credentials."""
    from omnichat.aws.connections import GoneError, ManagementApi

    async def scenario() -> str:
        async with connect(f"{gateway.ws_url}?ticket=good-signer") as ws:
            connection_id = await connection_id_of(ws)
            api = ManagementApi(gateway.connections_url, function_region("us-east-1"))
            await asyncio.to_thread(api.post_to_connection, connection_id, b"signed by omnichat.aws")
            return await asyncio.wait_for(ws.recv(), 5)

    assert run(scenario()) == "signed by omnichat.aws"
    with pytest.raises(GoneError):  # a signed call for an unknown id: 410, not 403
        ManagementApi(gateway.connections_url, function_region("us-east-1")).post_to_connection("NoSuchId0A=", b"x")


def test_unreadable_credentials_refuse_rather_than_fail(gateway: RunningGateway) -> None:
    """The functions' credentials cannot be read (an expired SSO session): a 403, not a 500."""
    from local.gateway.management_auth import ManagementAuth

    def broken() -> None:
        raise RuntimeError("The SSO session has expired")

    url = "http://127.0.0.1:1/test/@connections/c1"
    headers = signed("GET", url)
    scope = {"type": "http", "method": "GET", "path": "/test/@connections/c1", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    status, reply_headers, body = ManagementAuth("us-east-1", credentials=broken).refusal(scope, b"")
    assert status == 403 and ("x-amzn-errortype", "UnrecognizedClientException") in reply_headers
    assert ManagementAuth("us-east-1").refusal(scope, b"") is None  # the same request, readable keys

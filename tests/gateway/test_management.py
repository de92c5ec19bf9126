"""The @connections Management API with the real boto3 `apigatewaymanagementapi` client,
pointed at the emulator exactly as a handler points it at API Gateway."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from local.gateway.management_auth import function_credentials, function_region
from local.gateway.server import RunningGateway

from .support import recorded, run, wait_for


def management_client(endpoint: str, **keys: str) -> Any:
    """The client a function makes: the functions' credentials and region (or `keys`)."""
    own = function_credentials()
    assert own is not None  # the emulator made a pair at start
    keys = {"aws_access_key_id": own.access_key, "aws_secret_access_key": own.secret_key,
            "aws_session_token": own.token, "region_name": function_region("us-east-1"), **keys}
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}),
                        **keys)


@pytest.fixture(scope="module")
def client(gateway: RunningGateway) -> Any:
    assert gateway.connections_url.endswith("/test")  # {stage} from the template
    return management_client(gateway.connections_url)


def test_get_post_delete_then_gone(gateway: RunningGateway, client: Any) -> None:
    async def scenario() -> dict[str, Any]:
        async with connect(f"{gateway.ws_url}?ticket=good-mgmt", user_agent_header="mgmt-test/2") as ws:
            await ws.send(json.dumps({"action": "echo"}))
            connection_id = json.loads(await asyncio.wait_for(ws.recv(), 5))["connectionId"]

            info = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b'{"hello": 1}')
            posted = await asyncio.wait_for(ws.recv(), 5)
            big = "b" * 100_000  # one message, more than one 32 KB frame on the wire
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=big.encode())
            received_big = await asyncio.wait_for(ws.recv(), 5)

            with pytest.raises(client.exceptions.PayloadTooLargeException):
                await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"x" * 131_073)

            await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            return {"id": connection_id, "info": info, "posted": posted, "big": received_big == big,
                    "code": closed.value.rcvd.code}

    outcome = run(scenario())
    info = outcome["info"]
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "mgmt-test/2"}
    assert isinstance(info["ConnectedAt"], datetime) and info["ConnectedAt"].tzinfo is not None
    assert info["ConnectedAt"] <= info["LastActiveAt"] <= datetime.now(UTC)
    assert outcome["posted"] == '{"hello": 1}'  # delivered as a text frame
    assert outcome["big"] and outcome["code"] == 1000

    connection_id = outcome["id"]
    for call in (lambda: client.post_to_connection(ConnectionId=connection_id, Data=b"late"),
                 lambda: client.get_connection(ConnectionId=connection_id),
                 lambda: client.delete_connection(ConnectionId=connection_id)):
        with pytest.raises(client.exceptions.GoneException) as gone:
            call()
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    disconnect = wait_for(lambda: recorded(gateway.url, "$disconnect", connectionId=connection_id), what="$disconnect")
    assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1000
    assert disconnect[0]["requestContext"]["disconnectReason"] == "Connection Closed Normally"


def test_unknown_connection_ids_are_gone(client: Any) -> None:
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="NoSuchConnId0A=", Data=b"x")


def test_the_endpoint_also_works_without_the_stage(gateway: RunningGateway) -> None:
    client = management_client(gateway.url)

    async def scenario() -> str:
        async with connect(f"{gateway.ws_url}?ticket=good-nostage") as ws:
            await ws.send(json.dumps({"action": "echo"}))
            connection_id = json.loads(await asyncio.wait_for(ws.recv(), 5))["connectionId"]
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"no stage")
            return await asyncio.wait_for(ws.recv(), 5)

    assert run(scenario()) == "no stage"

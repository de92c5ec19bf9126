"""The WebSocket API through the emulator with the real `websockets` client: the $connect
authorizer, route selection, events field by field against events/ws-*.json, API
Gateway's limits, errors, and the 29 s integration timeout (shortened to 1 s here)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from local.gateway.server import RunningGateway

from .support import assert_same_shape, recorded, run, sample, wait_for


async def receive_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def echo(ws: ClientConnection, message: Any) -> dict[str, Any]:
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    return await receive_json(ws)


async def nothing_more(ws: ClientConnection, seconds: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


# ---- $connect and the authorizer -------------------------------------------------------

def test_allowed_connection_carries_the_authorizer_context_stringified(gateway: RunningGateway) -> None:
    async def scenario() -> dict[str, Any]:
        async with connect(f"{gateway.ws_url}?ticket=good-ctx") as ws:
            return await echo(ws, {"action": "echo"})

    authorizer = run(scenario())["authorizer"]
    latency = authorizer.pop("integrationLatency")
    assert isinstance(latency, int) and latency >= 0
    assert authorizer == {"userId": "good-ctx", "role": "user", "n": "7", "admin": "false", "ratio": "0.5",
                          "principalId": "principal-good-ctx"}


@pytest.mark.parametrize("query, status", [
    ("", 401),                           # identity source missing: the authorizer is not called
    ("?ticket=", 401),                   # present but empty counts as missing
    ("?ticket=deny", 403),               # explicit Deny
    ("?ticket=unauthorized", 401),       # raise Exception("Unauthorized")
    ("?ticket=broken", 500),             # the authorizer fails
    ("?ticket=nested", 500),             # a context value that is not a string/number/boolean
    ("?ticket=good-reject", 403),        # allowed, but $connect answers statusCode 403
])
def test_refused_handshakes(gateway: RunningGateway, query: str, status: int) -> None:
    calls_before = len(recorded(gateway.url, "authorizer"))

    async def scenario() -> None:
        async with connect(f"{gateway.ws_url}{query}"):
            pass

    with pytest.raises(InvalidStatus) as refused:
        run(scenario())
    assert refused.value.response.status_code == status
    called = len(recorded(gateway.url, "authorizer")) > calls_before
    assert called is (query not in ("", "?ticket="))


def test_an_allow_on_a_wildcard_resource_connects(gateway: RunningGateway) -> None:
    async def scenario() -> dict[str, Any]:
        async with connect(f"{gateway.ws_url}?ticket=wildcard") as ws:
            return await echo(ws, {"action": "echo"})

    assert run(scenario())["authorizer"]["principalId"] == "p"


# ---- event fidelity ----------------------------------------------------------------------

def test_events_have_the_fields_and_types_of_real_ones(gateway: RunningGateway) -> None:
    async def scenario() -> str:
        async with connect(f"{gateway.ws_url}?ticket=good-shape&v=1", user_agent_header="fidelity/1.0") as ws:
            reply = await echo(ws, {"action": "echo", "content": "hi"})
            await ws.close(1000)
            return reply["connectionId"]

    connection_id = run(scenario())
    authorizer = wait_for(lambda: recorded(gateway.url, "authorizer", connectionId=connection_id), what="authorizer")[0]
    connected = recorded(gateway.url, "$connect", connectionId=connection_id)[0]
    message = recorded(gateway.url, "echo", connectionId=connection_id)[0]
    gone = wait_for(lambda: recorded(gateway.url, "$disconnect", connectionId=connection_id), what="$disconnect")[0]

    assert_same_shape(sample("ws-authorizer-request.json"), authorizer)
    assert_same_shape(sample("ws-connect.json"), connected)
    assert_same_shape(sample("ws-message.json"), message)
    assert_same_shape(sample("ws-disconnect.json"), gone)

    api_id = authorizer["requestContext"]["apiId"]
    assert authorizer["type"] == "REQUEST"
    assert authorizer["methodArn"] == f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/test/$connect"
    assert authorizer["queryStringParameters"] == {"ticket": "good-shape", "v": "1"}
    assert authorizer["multiValueQueryStringParameters"] == {"ticket": ["good-shape"], "v": ["1"]}
    assert authorizer["headers"]["Sec-WebSocket-Version"] == "13" and authorizer["headers"]["Host"]
    for event, route, kind in [(connected, "$connect", "CONNECT"), (message, "echo", "MESSAGE"),
                               (gone, "$disconnect", "DISCONNECT")]:
        context = event["requestContext"]
        assert (context["routeKey"], context["eventType"], context["stage"]) == (route, kind, "test")
        assert context["apiId"] == api_id and context["messageDirection"] == "IN"
        assert context["identity"] == {"userAgent": "fidelity/1.0", "sourceIp": "127.0.0.1"}
        assert context["authorizer"]["userId"] == "good-shape"
        assert context["connectedAt"] <= context["requestTimeEpoch"]
    assert connected["requestContext"]["messageId"] is None and message["requestContext"]["messageId"]
    assert json.loads(message["body"]) == {"action": "echo", "content": "hi"}
    assert (gone["requestContext"]["disconnectStatusCode"], gone["requestContext"]["disconnectReason"]) == (1000, "")


# ---- route selection ---------------------------------------------------------------------

@pytest.mark.parametrize("message, route", [
    ({"action": "echo"}, "echo"),
    ({"action": "unknown.action"}, "$default"),
    ("this is not JSON", "$default"),
    ('["echo"]', "$default"),                  # JSON, but not an object
    ({"action": 7}, "$default"),               # not a string
    ({"action": "$connect"}, "$default"),      # not a message route
    ({"Action": "echo"}, "$default"),          # the expression is case-sensitive
    # Bodies Python's json cannot read (too deep, an int past 4,300 digits): $default, not dropped.
    pytest.param('{"action": "echo", "x": ' + "[" * 3000 + "]" * 3000 + "}", "$default", id="too-deep"),
    pytest.param('{"action": "echo", "n": ' + "9" * 5000 + "}", "$default", id="huge-int"),
])
def test_route_selection(gateway: RunningGateway, message: Any, route: str) -> None:
    async def scenario() -> dict[str, Any]:
        async with connect(f"{gateway.ws_url}?ticket=good-routes") as ws:
            return await echo(ws, message)

    reply = run(scenario())
    assert reply["route"] == route
    assert reply["body"] == (message if isinstance(message, str) else json.dumps(message))[:200]  # echoed cut


def test_a_route_added_only_to_the_template_works(variant: RunningGateway) -> None:
    async def scenario() -> tuple[dict[str, Any], str]:
        async with connect(f"{variant.ws_url}?ticket=good-later") as ws:
            forbidden = await echo(ws, {"action": "nope"})  # the variant has no $default
            await ws.send(json.dumps({"action": "later.hello"}))
            return forbidden, await asyncio.wait_for(ws.recv(), 5)

    forbidden, later = run(scenario())
    assert forbidden["message"] == "Forbidden" and set(forbidden) == {"message", "connectionId", "requestId"}
    assert later == "later says hi to later.hello"
    import httpx

    response = httpx.post(f"{variant.url}/later/bob", timeout=5)
    assert response.status_code == 200 and response.text == "later says hi to POST /later/{name}"


# ---- errors, route responses, timeouts ---------------------------------------------------------

def test_a_raising_handler_sends_internal_server_error_and_the_connection_stays_open(gateway: RunningGateway) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(f"{gateway.ws_url}?ticket=good-boom") as ws:
            error = await echo(ws, {"action": "boom"})
            return error, await echo(ws, {"action": "echo"})

    error, after = run(scenario())
    assert error["message"] == "Internal server error"
    assert error["connectionId"] == after["connectionId"] and error["requestId"]
    assert after["route"] == "echo"


def test_the_return_value_reaches_the_client_only_with_a_route_response(gateway: RunningGateway) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], bool]:
        async with connect(f"{gateway.ws_url}?ticket=good-rr") as ws:
            answered = await echo(ws, {"action": "answer", "q": 1})
            posted = await echo(ws, {"action": "echo"})  # its return value has no route response
            return answered, posted, await nothing_more(ws)

    answered, posted, quiet = run(scenario())
    assert answered == {"answered": {"action": "answer", "q": 1}}
    assert posted["route"] == "echo" and quiet


def test_past_the_integration_timeout_the_handler_runs_on(gateway: RunningGateway) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool]:
        async with connect(f"{gateway.ws_url}?ticket=good-slow") as ws:
            await ws.send(json.dumps({"action": "slow", "seconds": 1.5}))
            await ws.send(json.dumps({"action": "echo"}))  # messages are invocations of their own
            first, second, third = [await receive_json(ws) for _ in range(3)]
            return first, second, third, await nothing_more(ws, 0.4)

    first, timed_out, done, quiet = run(scenario())
    assert first["route"] == "echo"  # not stuck behind the slow one
    assert timed_out["message"] == "Endpoint request timed out"  # the slow route has a route response
    assert done["slow"] == "done"  # the handler kept running and posted through @connections
    assert 50_000 < done["remaining_ms"] <= 60_000  # WsFunction's Timeout: 60
    assert quiet  # its late return value ("late") is never delivered


# ---- limits ---------------------------------------------------------------------------------

def close_code(url: str, payload: Any) -> int:
    async def scenario() -> int:
        async with connect(url, max_size=None) as ws:
            await ws.send(payload)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code

    return run(scenario())


def test_a_frame_over_32_kb_closes_with_1009(gateway: RunningGateway) -> None:
    frame = json.dumps({"action": "echo", "pad": "x" * 33_000})
    assert close_code(f"{gateway.ws_url}?ticket=good-frame", frame) == 1009


def test_a_message_over_128_kb_in_small_frames_closes_with_1009(gateway: RunningGateway) -> None:
    assert close_code(f"{gateway.ws_url}?ticket=good-msg", iter(["y" * 30_000] * 5)) == 1009


def test_binary_frames_close_with_1003(gateway: RunningGateway) -> None:
    assert close_code(f"{gateway.ws_url}?ticket=good-binary", b"\x00\x01") == 1003


def test_a_fragmented_message_within_the_limits_is_one_message(gateway: RunningGateway) -> None:
    text = json.dumps({"action": "echo", "pad": "z" * 110_000})
    parts = [text[i:i + 30_000] for i in range(0, len(text), 30_000)]

    async def scenario() -> dict[str, Any]:
        async with connect(f"{gateway.ws_url}?ticket=good-parts") as ws:
            await ws.send(iter(parts))
            return await receive_json(ws)

    reply = run(scenario())
    assert reply["route"] == "echo" and reply["size"] == len(text)


def test_disconnect_reports_the_close_code_and_reason(gateway: RunningGateway) -> None:
    async def scenario() -> str:
        async with connect(f"{gateway.ws_url}?ticket=good-bye") as ws:
            connection_id = (await echo(ws, {"action": "echo"}))["connectionId"]
            await ws.close(4000, "see you")
            return connection_id

    connection_id = run(scenario())
    gone = wait_for(lambda: recorded(gateway.url, "$disconnect", connectionId=connection_id), what="$disconnect")
    assert (gone[0]["requestContext"]["disconnectStatusCode"], gone[0]["requestContext"]["disconnectReason"]) \
        == (4000, "see you")


def test_idle_connections_are_closed_with_1001(variant: RunningGateway) -> None:
    async def scenario() -> tuple[str, int]:
        async with connect(f"{variant.ws_url}?ticket=good-idle") as ws:
            await ws.send(json.dumps({"action": "later.hello"}))
            await asyncio.wait_for(ws.recv(), 5)
            connection_id = (await variant_connection_id(variant))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)  # idle timeout of the variant: 0.6 s
            return connection_id, closed.value.rcvd.code

    connection_id, code = run(scenario())
    assert code == 1001
    gone = wait_for(lambda: recorded(variant.url, "$disconnect", connectionId=connection_id), what="$disconnect")
    assert gone[0]["requestContext"]["disconnectStatusCode"] == 1001


async def variant_connection_id(variant: RunningGateway) -> str:
    connected = await asyncio.to_thread(recorded, variant.url, "$connect")
    mine = [e for e in connected if e["queryStringParameters"]["ticket"] == "good-idle"]
    return mine[-1]["requestContext"]["connectionId"]

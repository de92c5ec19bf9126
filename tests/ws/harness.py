"""Drives the WebSocket Lambdas as API Gateway does: real-shaped events in, frames out
through a real boto3 `apigatewaymanagementapi` client, which moto answers (it keeps
what each connection was sent)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from omnichat.auth import tickets
from omnichat.auth.principal import Principal
from omnichat.db.engine import session_scope
from tests.helpers import load_function

API_ID, STAGE, REGION, ACCOUNT = "abc123", "prod", "us-east-1", "123456789012"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
FUNCTIONS = {name: load_function(name) for name in ("authorizer", "ws_connect", "ws_disconnect", "ws_chat")}


def _context(name: str, timeout_s: float = 900) -> SimpleNamespace:
    start = time.monotonic()
    return SimpleNamespace(
        function_name=f"omnichat-{name}", function_version="$LATEST", memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:omnichat-{name}",
        aws_request_id=str(uuid.uuid4()), log_group_name=f"/aws/lambda/omnichat-{name}", log_stream_name="s",
        get_remaining_time_in_millis=lambda: int(max(0, timeout_s - (time.monotonic() - start)) * 1000))


def request_context(connection_id: str, route_key: str, event_type: str, authorizer: dict | None) -> dict:
    now = datetime.now(timezone.utc)
    rc = {
        "routeKey": route_key, "eventType": event_type, "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "messageDirection": "IN", "stage": STAGE,
        "connectedAt": int(now.timestamp() * 1000) - 1000, "requestTimeEpoch": int(now.timestamp() * 1000),
        "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"}, "requestId": uuid.uuid4().hex[:16],
        "domainName": DOMAIN, "connectionId": connection_id, "apiId": API_ID,
        "messageId": None if event_type != "MESSAGE" else uuid.uuid4().hex[:16],
    }
    if authorizer is not None:
        rc["authorizer"] = authorizer
    return rc


class Harness:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

        self.backend = apigatewaymanagementapi_backends[ACCOUNT][REGION]
        self.contexts: dict[str, dict] = {}

    # ---- connecting -------------------------------------------------------------------
    def ticket_for(self, principal: Principal) -> str:
        with session_scope(self.db_url) as db:
            from omnichat.config import get_settings

            return tickets.issue(db, get_settings(), principal)[0]

    def authorize(self, ticket: str | None) -> dict:
        event = {
            "type": "REQUEST", "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/$connect",
            "headers": {"Host": DOMAIN}, "multiValueHeaders": {"Host": [DOMAIN]},
            "queryStringParameters": {"ticket": ticket} if ticket is not None else {},
            "multiValueQueryStringParameters": {"ticket": [ticket]} if ticket is not None else {},
            "stageVariables": {}, "requestContext": request_context("pending", "$connect", "CONNECT", None),
        }
        return FUNCTIONS["authorizer"].handler(event, _context("authorizer"))

    def connect(self, principal: Principal) -> str:
        decision = self.authorize(self.ticket_for(principal))
        assert decision["policyDocument"]["Statement"][0]["Effect"] == "Allow", decision
        connection_id = uuid.uuid4().hex[:14] + "="
        authorizer = {"principalId": decision["principalId"], "integrationLatency": 12, **decision["context"]}
        self.contexts[connection_id] = authorizer
        event = {"headers": {"Host": DOMAIN}, "multiValueHeaders": {"Host": [DOMAIN]},
                 "queryStringParameters": {"ticket": "used"}, "isBase64Encoded": False,
                 "requestContext": request_context(connection_id, "$connect", "CONNECT", authorizer)}
        assert FUNCTIONS["ws_connect"].handler(event, _context("ws_connect"))["statusCode"] == 200
        return connection_id

    def disconnect(self, connection_id: str) -> None:
        rc = request_context(connection_id, "$disconnect", "DISCONNECT", self.contexts[connection_id])
        rc.update(disconnectStatusCode=1001, disconnectReason="Going away")
        FUNCTIONS["ws_disconnect"].handler({"headers": {"Host": DOMAIN}, "isBase64Encoded": False,
                                            "requestContext": rc}, _context("ws_disconnect"))
        self.backend.delete_connection(quote(connection_id, safe=""))

    # ---- messages ---------------------------------------------------------------------
    def send_raw(self, connection_id: str, body: str | None, route_key: str = "$default",
                 binary: bool = False, timeout_s: float = 900) -> dict:
        event = {"requestContext": request_context(connection_id, route_key, "MESSAGE", self.contexts[connection_id]),
                 "body": body, "isBase64Encoded": binary}
        return FUNCTIONS["ws_chat"].handler(event, _context("ws_chat", timeout_s))

    def send(self, connection_id: str, frame: dict[str, Any], **kw: Any) -> dict:
        action = frame.get("action")
        route = action if action in ("ping", "chat.send", "chat.stop", "chat.regenerate", "chat.edit",
                                     "chat.resume", "model.pull") else "$default"
        return self.send_raw(connection_id, json.dumps(frame), route, **kw)

    def send_in_background(self, connection_id: str, frame: dict[str, Any], **kw: Any) -> threading.Thread:
        thread = threading.Thread(target=self.send, args=(connection_id, frame), kwargs=kw, daemon=True)
        thread.start()
        return thread

    # ---- what the client received ----------------------------------------------------
    def frames(self, connection_id: str) -> list[dict]:
        # moto keys connections by the id as it appears in the URL path (`=` encoded).
        key = quote(connection_id, safe="")
        data = self.backend.connections[key].data.decode() if key in self.backend.connections else ""
        decoder, out, i = json.JSONDecoder(), [], 0
        while i < len(data):
            obj, i = decoder.raw_decode(data, i)
            out.append(obj)
        return out

    def wait_for(self, connection_id: str, predicate, timeout_s: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            frames = self.frames(connection_id)
            if any(predicate(f) for f in frames):
                return frames
            time.sleep(0.02)
        raise AssertionError(f"timed out; frames so far: {self.frames(connection_id)[-5:]}")


def answer_text(frames: list[dict], message_id: str) -> str:
    """Reassemble an answer from snapshots and deltas by offset, as a client does."""
    text = ""
    for f in frames:
        if f.get("message_id") != message_id or f["type"] not in ("delta", "message.snapshot"):
            continue
        if f["offset"] == len(text):
            text += f["text"]
        elif f["offset"] < len(text):  # overlap: keep what is new
            text = text[: f["offset"]] + f["text"] if f["offset"] + len(f["text"]) > len(text) else text
    return text


def of_type(frames: list[dict], kind: str) -> list[dict]:
    return [f for f in frames if f["type"] == kind]

"""Drives the WebSocket Lambdas as API Gateway does: real-shaped events in, frames out
through the Management API, which moto's server answers (it keeps what each connection
was sent)."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from omnichat.auth import tickets
from omnichat.auth.principal import Principal
from omnichat.db import lite
from tests.helpers import load_function

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLES = {name: json.loads((EVENTS / f"ws-{name}.json").read_text())
           for name in ("authorizer-request", "connect", "message", "disconnect")}
REGION, ACCOUNT = "us-east-1", "123456789012"
FUNCTIONS = {name: load_function(name) for name in ("authorizer", "ws_connect", "ws_disconnect", "ws_chat")}


def _context(name: str, timeout_s: float = 900) -> SimpleNamespace:
    start = time.monotonic()
    return SimpleNamespace(
        function_name=f"omnichat-{name}", function_version="$LATEST", memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:omnichat-{name}",
        aws_request_id=str(uuid.uuid4()), log_group_name=f"/aws/lambda/omnichat-{name}", log_stream_name="s",
        get_remaining_time_in_millis=lambda: int(max(0, timeout_s - (time.monotonic() - start)) * 1000))


def event_from(sample: str, connection_id: str, authorizer: dict | None, **fields: Any) -> dict:
    """A copy of a captured-shape sample from events/, with this connection's values."""
    event = copy.deepcopy(SAMPLES[sample])
    rc = event["requestContext"]
    now = datetime.now(timezone.utc)
    rc.update(connectionId=connection_id, requestId=uuid.uuid4().hex[:16], extendedRequestId=uuid.uuid4().hex[:16],
              requestTime=now.strftime("%d/%b/%Y:%H:%M:%S +0000"), requestTimeEpoch=int(now.timestamp() * 1000))
    if "messageId" in rc and rc["messageId"] is not None:
        rc["messageId"] = uuid.uuid4().hex[:16]
    if authorizer is None:
        rc.pop("authorizer", None)
    else:
        rc["authorizer"] = authorizer
    event.update(fields)
    return event


class Harness:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

        self.backend = apigatewaymanagementapi_backends[ACCOUNT][REGION]
        self.contexts: dict[str, dict] = {}

    # ---- connecting -------------------------------------------------------------------
    def ticket_for(self, principal: Principal) -> str:
        from omnichat.config import get_settings

        return lite.run(self.db_url, lambda db: tickets.issue(db, get_settings(), principal)[0])

    def authorize(self, ticket: str | None) -> dict:
        query = {"ticket": ticket} if ticket is not None else {}
        event = event_from("authorizer-request", "pending=", None, queryStringParameters=query,
                           multiValueQueryStringParameters={k: [v] for k, v in query.items()})
        return FUNCTIONS["authorizer"].handler(event, _context("authorizer"))

    def connect(self, principal: Principal) -> str:
        decision = self.authorize(self.ticket_for(principal))
        assert decision["policyDocument"]["Statement"][0]["Effect"] == "Allow", decision
        connection_id = uuid.uuid4().hex[:14] + "="
        authorizer = {"principalId": decision["principalId"], "integrationLatency": 12, **decision["context"]}
        self.contexts[connection_id] = authorizer
        event = event_from("connect", connection_id, authorizer)
        assert FUNCTIONS["ws_connect"].handler(event, _context("ws_connect"))["statusCode"] == 200
        return connection_id

    def disconnect(self, connection_id: str) -> None:
        event = event_from("disconnect", connection_id, self.contexts[connection_id])
        FUNCTIONS["ws_disconnect"].handler(event, _context("ws_disconnect"))
        self.backend.delete_connection(quote(connection_id, safe=""))

    # ---- messages ---------------------------------------------------------------------
    def send_raw(self, connection_id: str, body: str | None, route_key: str = "$default",
                 binary: bool = False, timeout_s: float = 900) -> dict:
        event = event_from("message", connection_id, self.contexts[connection_id], body=body, isBase64Encoded=binary)
        event["requestContext"]["routeKey"] = route_key
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

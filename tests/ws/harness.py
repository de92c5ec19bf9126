"""Drives the WebSocket Lambdas as API Gateway does: real-shaped events in, frames out
through the Management API, which moto's server answers (it keeps what each connection
was sent)."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote

from omnichat.auth import api_keys, tickets
from omnichat.auth.principal import Principal
from omnichat.db import lite
from omnichat.ids import new_id
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
        # Connections the server closed (DeleteConnection) -> what they had received by then
        # (moto forgets a deleted connection's data).
        self.closed: dict[str, bytes] = {}

    def observe_closes(self, delete_connection: Any) -> Any:
        """moto's DeleteConnection, keeping what the connection had received first."""
        def observed(connection_id: str) -> None:
            kept = self.backend.connections.get(connection_id)
            self.closed[unquote(connection_id)] = kept.data if kept is not None else b""
            delete_connection(connection_id)

        return observed

    # ---- credentials ------------------------------------------------------------------
    def signed_in(self, principal: Principal) -> Principal:
        """The principal with a session of its own, as signing in gives it."""
        session_id, now = new_id(), lite.utcnow()
        lite.run(self.db_url, lambda db: db.insert("sessions", {
            "id": session_id, "user_id": principal.user_id, "created_at": now, "expires_at": now + timedelta(hours=1)}))
        return replace(principal, session_id=session_id, api_key_id=None)

    def with_api_key(self, principal: Principal) -> Principal:
        """The principal calling with an API key of its own."""
        key, _ = lite.run(self.db_url, lambda db: api_keys.create(db, principal, "ws test"))
        return replace(principal, session_id=None, api_key_id=key.id)

    # ---- connecting -------------------------------------------------------------------
    def ticket_for(self, principal: Principal) -> str:
        """A ticket, obtained with the principal's credential (a new session if it has none)."""
        from omnichat.config import get_settings

        if principal.session_id is None and principal.api_key_id is None:
            principal = self.signed_in(principal)
        return lite.run(self.db_url, lambda db: tickets.issue(db, get_settings(), principal)[0])

    def authorize(self, ticket: str | None) -> dict:
        query = {"ticket": ticket} if ticket is not None else {}
        event = event_from("authorizer-request", "pending=", None, queryStringParameters=query,
                           multiValueQueryStringParameters={k: [v] for k, v in query.items()})
        return FUNCTIONS["authorizer"].handler(event, _context("authorizer"))

    def connect(self, principal: Principal) -> str:
        connection_id, response = self.try_connect(principal)
        assert response["statusCode"] == 200, response
        return connection_id

    def try_connect(self, principal: Principal, **query: str | None) -> tuple[str, dict]:
        """A new connection's id and what $connect answered (the authorizer allowed it);
        `query` changes the sample's query string (None removes a parameter)."""
        decision = self.authorize(self.ticket_for(principal))
        assert decision["policyDocument"]["Statement"][0]["Effect"] == "Allow", decision
        connection_id = uuid.uuid4().hex[:14] + "="
        authorizer = {"principalId": decision["principalId"], "integrationLatency": 12, **decision["context"]}
        self.contexts[connection_id] = authorizer
        event = event_from("connect", connection_id, authorizer)
        params = event["queryStringParameters"]
        params.update(query)
        event["queryStringParameters"] = {k: v for k, v in params.items() if v is not None}
        return connection_id, FUNCTIONS["ws_connect"].handler(event, _context("ws_connect"))

    def disconnect(self, connection_id: str) -> None:
        event = event_from("disconnect", connection_id, self.contexts[connection_id])
        FUNCTIONS["ws_disconnect"].handler(event, _context("ws_disconnect"))
        self.backend.connections.pop(quote(connection_id, safe=""), None)  # the client left: not a close

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
        data = (self.backend.connections[key].data if key in self.backend.connections else
                self.closed.get(connection_id, b"")).decode()
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

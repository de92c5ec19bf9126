"""From a raw WebSocket message to an action, and every failure to an `error` event: no
frame, however malformed, makes a handler raise or closes the connection — except one
sent on a connection whose credential no longer stands, which is answered, then closed."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

from omnichat.auth import policies, standing
from omnichat.auth.principal import Principal
from omnichat.catalog import catalog
from omnichat.checks import Invalid, storable
from omnichat.db import lite
from omnichat.errors import AppError, OmniChatError
from omnichat.ws import actions, schemas
from omnichat.ws.session import WsError, WsSession

log = logging.getLogger("omnichat.ws")
# The frames that name a model to answer with (model.pull names one to download instead).
MODEL_FRAMES = (schemas.Send, schemas.Edit, schemas.Regenerate)

# Action -> the rule (omnichat.auth.policies) its sender must pass: the one place that
# says who may do what on the WebSocket (tests/ws/test_authz_matrix.py covers every row).
POLICIES: dict[str, str] = {
    "ping": "active", "chat.send": "active", "chat.stop": "active", "chat.regenerate": "active",
    "chat.edit": "active", "chat.resume": "active", "model.pull": "admin",
}
# No frame of the protocol nests deeper than this (a send's params are at depth 2).
MAX_DEPTH = 32


class ConnectionEnded(WsError):
    """The connection's credential no longer stands: answered, then the connection closes."""


def parse(body: str | None, is_base64: bool) -> dict[str, Any]:
    if body is None:
        raise WsError("invalid_frame", "The message is empty")
    if is_base64:
        raise WsError("invalid_frame", "Binary frames are not part of the protocol; send JSON text")
    try:
        frame = json.loads(body)
    # ValueError: not JSON, or an integer longer than Python converts (4,300 digits);
    # RecursionError: nesting deeper than the parser's stack.
    except (ValueError, RecursionError):
        raise WsError("invalid_json", "The message is not valid JSON, or holds a number too long to read") from None
    if not isinstance(frame, dict):
        raise WsError("invalid_frame", "A message is a JSON object with an \"action\"")
    if _deeper_than(frame, MAX_DEPTH):
        raise WsError("invalid_frame", f"A message nests at most {MAX_DEPTH} levels of objects and arrays")
    return frame


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests more than `limit` levels (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def current_principal(db_url: str, principal: Principal) -> Principal:
    """The authorizer vouched for the user and the credential at connect time; sessions
    end, keys are revoked, roles change and accounts are deleted since, so every message
    checks again (one query)."""
    try:
        return lite.run(db_url, lambda db: standing.current(db, principal))
    except AppError as exc:
        raise ConnectionEnded(exc.code, exc.message) from None


async def end_connection(s: WsSession) -> None:
    """DeleteConnection: API Gateway closes the socket and invokes $disconnect."""
    delete = getattr(s.sink, "delete", None)  # the Management API sink can; test sinks may not
    if delete is None:
        return
    try:
        await asyncio.to_thread(delete, s.connection_id)
    except Exception:  # noqa: BLE001 - the error was sent; the next frame tries again
        log.warning("could not close connection %s", s.connection_id, exc_info=True)


async def dispatch(s: WsSession, body: str | None, is_base64: bool = False) -> None:
    try:
        s.principal = current_principal(s.db_url, s.principal)
        raw = parse(body, is_base64)
        request_id = raw.get("request_id")
        s.request_id = request_id if isinstance(request_id, str) and len(request_id) <= 100 \
            and storable(request_id) else None  # never echo what cannot be encoded
        client_message_id = raw.get("client_message_id")  # echoed in errors, as request_id
        s.client_message_id = (client_message_id if isinstance(client_message_id, str)
                               and len(client_message_id) <= 100 and storable(client_message_id) else None)
        action = raw.get("action")
        if not isinstance(action, str) or action not in schemas.ACTIONS:
            shown = json.dumps(action)[:100]  # as the client wrote it (null, not None), bounded
            raise WsError("unknown_action", f"Unknown action {shown}; see docs/websocket-protocol.md")
        try:
            frame = schemas.parse(action, raw)
        except Invalid as fault:
            raise WsError("invalid_request", fault.describe()) from None
        policies.RULES[POLICIES[action]](s.principal)
        if isinstance(frame, MODEL_FRAMES) and frame.model:  # a bare name ("smollm2:135m"): its full id
            frame = replace(frame, model=await catalog.full_id(s.settings, s.principal, frame.model))
        await actions.HANDLERS[action](s, frame)
    except ConnectionEnded as exc:
        await s.error(exc.code, exc.message)
        await end_connection(s)
    except WsError as exc:
        await s.error(exc.code, exc.message, **exc.context)
    except OmniChatError as exc:  # the platform's errors (omnichat.errors), mapped once for the WebSocket
        exc.log(log, "WebSocket action")  # a provider's raw detail: logged, never sent
        await s.error(exc.code or "error", exc.message)
    except Exception:
        log.exception("unhandled error in a WebSocket action")
        await s.error("internal_error", "Something went wrong on our side; the connection is still usable")


def decode_body(event: dict[str, Any]) -> tuple[str | None, bool]:
    """The body, and whether it was a binary frame (API Gateway hands those over
    base64-encoded with isBase64Encoded set)."""
    return event.get("body"), bool(event.get("isBase64Encoded"))

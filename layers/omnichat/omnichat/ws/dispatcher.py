"""From a raw WebSocket message to an action, and every failure to an `error` event: no
frame, however malformed, makes a handler raise or closes the connection."""

from __future__ import annotations

import json
import logging
from typing import Any

from omnichat.auth.principal import Principal
from omnichat.checks import Invalid
from omnichat.db import lite
from omnichat.errors import AppError
from omnichat.ws import actions, schemas
from omnichat.ws.session import WsError, WsSession

log = logging.getLogger("omnichat.ws")


def parse(body: str | None, is_base64: bool) -> dict[str, Any]:
    if body is None:
        raise WsError("invalid_frame", "The message is empty")
    if is_base64:
        raise WsError("invalid_frame", "Binary frames are not part of the protocol; send JSON text")
    try:
        frame = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WsError("invalid_json", "The message is not valid JSON") from None
    if not isinstance(frame, dict):
        raise WsError("invalid_frame", "A message is a JSON object with an \"action\"")
    return frame


def current_principal(db_url: str, principal: Principal) -> Principal:
    """The authorizer vouched for the user at connect time; roles change and accounts are
    deleted since, so every message checks again."""
    user = lite.run(db_url, lambda db: db.execute("SELECT id, email, role FROM users WHERE id = ?",
                                                  principal.user_id).fetchone())
    if user is None or user[2] not in ("admin", "user"):
        raise WsError("forbidden", "This account can no longer chat; sign in again")
    return Principal(user[0], user[1], user[2], api_key_id=principal.api_key_id)


async def dispatch(s: WsSession, body: str | None, is_base64: bool = False) -> None:
    try:
        raw = parse(body, is_base64)
        request_id = raw.get("request_id")
        s.request_id = request_id if isinstance(request_id, str) and len(request_id) <= 100 else None
        action = raw.get("action")
        if not isinstance(action, str) or action not in schemas.ACTIONS:
            raise WsError("unknown_action", f"Unknown action {action!r}; see docs/websocket-protocol.md")
        try:
            frame = schemas.parse(action, raw)
        except Invalid as fault:
            raise WsError("invalid_request", fault.describe()) from None
        s.principal = current_principal(s.db_url, s.principal)
        await actions.HANDLERS[action](s, frame)  # type: ignore[arg-type]
    except WsError as exc:
        await s.error(exc.code, exc.message, **exc.context)
    except AppError as exc:
        await s.error(exc.code, exc.message)
    except Exception:
        log.exception("unhandled error in a WebSocket action")
        await s.error("internal_error", "Something went wrong on our side; the connection is still usable")


def decode_body(event: dict[str, Any]) -> tuple[str | None, bool]:
    """The body, and whether it was a binary frame (API Gateway hands those over
    base64-encoded with isBase64Encoded set)."""
    return event.get("body"), bool(event.get("isBase64Encoded"))

"""What the WebSocket Lambdas read from API Gateway's events."""

from __future__ import annotations

import os
import time
from typing import Any

from omnichat.auth.principal import Principal

# Finish (and save) the answer this long before Lambda would kill the invocation.
DEADLINE_MARGIN_S = 10.0


def management_endpoint(event: dict[str, Any]) -> str:
    """The @connections endpoint: from the environment (custom domains, the local
    emulator) or built from the event as API Gateway documents it."""
    configured = os.environ.get("OMNICHAT_WS_ENDPOINT")
    if configured:
        return configured
    rc = event["requestContext"]
    return f"https://{rc['domainName']}/{rc['stage']}"


def principal_from(event: dict[str, Any]) -> Principal:
    """The user the authorizer vouched for at $connect, and the credential (session or API
    key) its ticket was obtained with: its context rides on every event."""
    ctx = event["requestContext"].get("authorizer") or {}
    user_id = ctx.get("userId")
    if not user_id:
        raise PermissionError("no authorizer context on this connection")
    return Principal(user_id=str(user_id), email=str(ctx.get("email", "")), role=str(ctx.get("role", "user")),
                     session_id=str(ctx["sessionId"]) if ctx.get("sessionId") else None,
                     api_key_id=str(ctx["apiKeyId"]) if ctx.get("apiKeyId") else None)


def deadline_from(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + max(1.0, float(remaining()) / 1000 - DEADLINE_MARGIN_S)

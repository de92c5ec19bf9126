"""The status and error code every surface answers a refused caller with: the REST API, the
OpenAI gateway and the WebSocket (which has no status, and closes the connection after the
401 ones). The three authorization matrices check against this one table, so the same
condition cannot drift to different codes on different surfaces."""

from __future__ import annotations

REFUSALS: dict[str, tuple[int, str]] = {
    "anonymous": (401, "unauthenticated"),
    "signed_out": (401, "session_ended"),  # a session token after sign-out or a password change
    "deleted": (401, "session_ended"),  # a session token of an account deleted since
    "revoked_key": (401, "invalid_api_key"),
    "pending": (403, "account_pending"),  # never approved, or set back to pending
    "not_admin": (403, "admin_only"),
}

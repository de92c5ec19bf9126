"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with the
HTTP status the official SDKs turn into their exception classes (400 BadRequestError,
401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 413, 429
RateLimitError, 500/503 InternalServerError).

Every failure the gateway can meet is turned into a `GatewayError` here: the platform's
`AppError`s (auth, catalog), the providers' typed `ProviderError`s, and invalid request
bodies (schemas.py: `param` names the offending field, as OpenAI does)."""

from __future__ import annotations

import json
import logging
from typing import Any

from omnichat.errors import OmniChatError

log = logging.getLogger("omnichat.gateway")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}

# The platform's error codes, renamed where OpenAI has a well-known name for the same thing
# (never for authentication and authorization: those keep the codes of every surface).
_CODES = {
    "context_too_long": "context_length_exceeded",
    "throttled": "rate_limit_exceeded",
}

# The platform's statuses as the gateway answers them; any other is a 500. The providers use
# 502 / 504 for a failing or slow backend: 500 / 503 are the statuses OpenAI's clients know
# and retry.
_STATUS = {400: 400, 401: 401, 403: 403, 404: 404, 409: 409, 413: 413, 429: 429, 503: 503, 504: 503}


class GatewayError(OmniChatError):
    """A /v1 refusal in OpenAI's terms: `code` may be null, `param` names the field."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, status=status, headers=headers)
        self.code = code
        self.param = param
        self.type = type or _TYPES.get(status, "server_error")

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        if isinstance(self.details, dict):  # e.g. a budget refusal's remaining budget
            error.update(self.details)
        return {"error": error}

    def sse(self) -> bytes:
        """The error as a server-sent event: what OpenAI sends when a stream fails after it
        started, and what the SDKs raise `APIError` for."""
        return b"data: " + json.dumps(self.body()).encode() + b"\n\n"


def invalid(param: str | None, message: str, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, code=code, param=param)


def from_exception(exc: BaseException) -> GatewayError:
    """Any exception as the error a client should see: the platform's own with their
    user-facing message (a provider's raw detail goes to the log only), unexpected ones
    logged and answered as a 500."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, OmniChatError):
        exc.log(log, "gateway model call")
        status = _STATUS.get(exc.status, 500)
        # Refusals name their own wait (Retry-After); a throttled provider does not.
        headers = exc.headers or ({"retry-after": "1"} if status == 429 else None)
        error = GatewayError(status, exc.message, code=_CODES.get(exc.code or "", exc.code), headers=headers)
        if exc.code == "budget_exceeded":  # what remains, beside OpenAI's fields
            error.details = exc.details
        return error
    log.exception("unexpected gateway error", exc_info=exc)
    return GatewayError(500, "The server had an error while processing your request.", code="internal_error")


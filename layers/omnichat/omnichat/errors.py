"""Every error the platform answers a client with, as one hierarchy:

    OmniChatError                  status, code, message (for users), detail (for logs only)
    ├── AppError                   a request the platform refuses
    │   ├── BadRequest             400 bad_request
    │   │   ├── catalog.chains.InvalidFallbacks, FallbackCycle   a fallback chain refused
    │   │   ├── documents.sniff.Unsupported   415 unsupported_type, 400 empty_file (from the bytes)
    │   │   └── catalog.preset_edits.InvalidPreset
    │   ├── Unauthorized           401 unauthorized
    │   ├── Forbidden              403 forbidden
    │   ├── NotFound               404 not_found
    │   │   └── catalog.preset_edits.PresetNotFound
    │   ├── Conflict               409 conflict
    │   │   └── catalog.preset_edits.SlugTaken
    │   ├── PayloadTooLarge        413 payload_too_large
    │   ├── TooManyRequests        429 rate_limited (with Retry-After)
    │   ├── billing.reservations.BudgetExceeded   429 budget_exceeded (Retry-After, what remains)
    │   ├── auth.sso.SsoError      a single sign-on that cannot go on
    │   ├── catalog.ModelNotAvailable
    │   ├── catalog.AmbiguousModel 400 ambiguous_model (a bare name that fits several)
    │   ├── documents.storage.StorageError   502 (the file store refused or is unreachable)
    │   ├── documents.storage.UploadExpired  409 upload_expired (a direct upload's time is up)
    │   └── ws.session.WsError     answered as a WebSocket `error` event, with context
    │       └── ws.dispatcher.ConnectionEnded
    ├── providers.errors.ProviderError     a model call failed (502 provider_error)
    │   ├── ModelNotFound          404 model_not_found
    │   ├── ProviderUnavailable    503 provider_unavailable
    │   ├── Throttled              429 throttled
    │   ├── InvalidRequest         400 invalid_request
    │   ├── ContextTooLong         400 context_too_long
    │   ├── ProviderTimeout        504 timeout
    │   ├── structured.OutputMismatch   an answer that breaks its strict JSON schema
    │   └── AccessDenied           403 access_denied
    │       └── ModelNotEnabled    403 model_not_enabled
    └── openai_compat.errors.GatewayError  a /v1 refusal in OpenAI's terms (type, param)

Each surface maps the root once: REST in api/errors.py (`{"error": {"code", "message"}}`),
/v1 in openai_compat/errors.py (OpenAI's envelope), the WebSocket in ws/dispatcher.py (an
`error` event). Every surface shows `message`; `detail` (a provider's own words: hosts,
exception names, ARNs) is logged, never sent.

Outside the tree, `FailureReason`: no refusal of a request but a failure recorded for the
person, as a sentence (a file that cannot be read or indexed, documents/extract.py and
ingest.py)."""

from __future__ import annotations

import logging
from typing import Any

MAX_DETAIL_LOGGED = 1000


class OmniChatError(Exception):
    status = 500
    code: str | None = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: Any = None, headers: dict[str, str] | None = None, detail: str = "") -> None:
        super().__init__(detail or message)  # str(): what a log line should say
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details
        self.headers = headers or {}
        self.detail = detail

    def log(self, logger: logging.Logger, doing: str) -> None:
        """The detail users are not shown, for the operator; nothing when there is none."""
        if self.detail:
            logger.warning("%s failed: %s: %s", doing, self.code, self.detail[:MAX_DETAIL_LOGGED])


class AppError(OmniChatError):
    status = 400
    code = "bad_request"

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class TooManyRequests(AppError):
    status, code = 429, "rate_limited"


class FailureReason(Exception):
    """A failure whose `reason` is the sentence the person reads (a file's failure)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

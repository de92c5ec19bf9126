"""Typed provider errors. Each carries a stable `code` (used in API and WebSocket error
bodies), an HTTP-ish `status`, and the text produced before the failure (`partial_text`),
so a caller never loses what the model had already said."""

from __future__ import annotations


class ProviderError(Exception):
    code = "provider_error"
    status = 502
    retryable = False

    def __init__(self, message: str, *, partial_text: str = "", provider: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.partial_text = partial_text
        self.provider = provider

    def with_partial(self, partial_text: str) -> "ProviderError":
        self.partial_text = partial_text
        return self


class ModelNotFound(ProviderError):
    code = "model_not_found"
    status = 404


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    status = 503
    retryable = True


class Throttled(ProviderError):
    code = "throttled"
    status = 429
    retryable = True


class InvalidRequest(ProviderError):
    code = "invalid_request"
    status = 400


class ContextTooLong(ProviderError):
    code = "context_too_long"
    status = 400


class ProviderTimeout(ProviderError):
    code = "timeout"
    status = 504
    retryable = True


class AccessDenied(ProviderError):
    code = "access_denied"
    status = 403

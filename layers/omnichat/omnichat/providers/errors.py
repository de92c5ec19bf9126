"""Typed provider errors, a branch of the platform's one error hierarchy (omnichat.errors,
whose docstring draws the tree). Each carries a stable `code` (used in API and WebSocket error
bodies), an HTTP-ish `status`, and the text produced before the failure (`partial_text`),
so a caller never loses what the model had already said.

Two texts per error: `detail` is what went wrong in the provider's own words (hosts,
exception names, ARNs, limits) and goes to the logs only; `message` is what a user is
shown, plain and actionable: the class's text, or a more specific one (`message=`, or a
hint recognised in the detail below). Every surface shows `message`, never `detail`."""

from __future__ import annotations

import logging
import re

from omnichat.errors import MAX_DETAIL_LOGGED, OmniChatError

# Provider texts a user can act on, in Ollama's and Bedrock's words alike.
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"does(?:n't| not) support (?:tool|function)", re.I),
     "This model cannot use tools: choose a model that can, or send the request without tools."),
    (re.compile(r"does(?:n't| not) support (?:the )?(?:image|vision)", re.I),
     "This model cannot read images: choose a model that can, or send text only."),
    (re.compile(r"does(?:n't| not) support (?:thinking|reasoning)", re.I),
     "This model cannot show its reasoning: choose a model that can, or turn reasoning off."),
    (re.compile(r"does(?:n't| not) support system", re.I),
     "This model does not take a system prompt: remove it, or choose another model."),
    (re.compile(r"does(?:n't| not) support (?:embeddings|the model that you provided)", re.I),
     "This model cannot be used for this kind of request: choose another model."),
    (re.compile(r"\bdimensions\b", re.I),
     "This model does not take this number of dimensions: leave 'dimensions' out, or use a size it supports."),
    (re.compile(r"requires more system memory|out of memory|cudaMalloc failed", re.I),
     "The model does not fit in its server's memory right now: choose a smaller model, or ask an "
     "administrator."),
)


def hint_for(detail: str) -> str | None:
    """A specific user message for a provider text, if it says something actionable."""
    return next((message for pattern, message in _HINTS if pattern.search(detail)), None)


class ProviderError(OmniChatError):
    code = "provider_error"
    status = 502
    retryable = False
    user_message = ("The model failed to answer. Try again; if it keeps failing, ask an administrator "
                    "to check the server's logs.")

    def __init__(self, detail: str, *, message: str | None = None, partial_text: str = "",
                 provider: str = "") -> None:
        super().__init__(message or hint_for(detail) or self.user_message, detail=detail)
        self.partial_text = partial_text
        self.provider = provider

    def with_partial(self, partial_text: str) -> ProviderError:
        self.partial_text = partial_text
        return self

    def log(self, logger: logging.Logger, doing: str) -> None:
        """The raw detail, for the operator (users get `message`)."""
        logger.warning("%s failed: %s from %s: %s", doing, self.code, self.provider or "provider",
                       self.detail[:MAX_DETAIL_LOGGED])


class ModelNotFound(ProviderError):
    code = "model_not_found"
    status = 404
    user_message = ("This model is not available on its server: choose another model, or ask an administrator "
                    "to install it.")


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    status = 503
    retryable = True
    user_message = "The model's server cannot be reached or is too busy right now. Try again in a moment."


class Throttled(ProviderError):
    code = "throttled"
    status = 429
    retryable = True
    user_message = "The model is receiving too many requests right now. Wait a few seconds and try again."


class InvalidRequest(ProviderError):
    code = "invalid_request"
    status = 400
    user_message = ("The model refused this request (an option or a kind of content it does not support). "
                    "Change the request, or choose another model.")


class ContextTooLong(ProviderError):
    code = "context_too_long"
    status = 400
    user_message = ("This conversation is too long for the model's context window. Start a new chat, shorten "
                    "your message, or choose a model with a larger context.")


class ProviderTimeout(ProviderError):
    code = "timeout"
    status = 504
    retryable = True
    user_message = "The model took too long to answer. Try again, perhaps with a shorter request."


class AccessDenied(ProviderError):
    code = "access_denied"
    status = 403
    user_message = ("This server is not allowed to use this model: ask an administrator to check the server's "
                    "credentials and permissions for the model provider.")


class ModelNotEnabled(AccessDenied):
    """The account has not enabled the model (Bedrock: no Marketplace subscription yet, or
    Anthropic's first-time-use form not submitted): an administrator's one-time action."""

    code = "model_not_enabled"
    user_message = ("This model is not enabled in this AWS account: ask an administrator to enable it (a one-time "
                    "step in the Amazon Bedrock console, see docs/deploy.md). It can take a few minutes to work "
                    "after that.")

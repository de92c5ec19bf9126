"""AWS error shapes as Bedrock returns them over restJson1.

botocore's RestJSONParser takes the error code from the `x-amzn-ErrorType` header (the
part before ':'), falling back to the body; the message comes from the body's `message`.
In-stream exceptions use the camel-cased member name of the event-stream union
(`throttlingException`, `modelStreamErrorException`, ...) as `:exception-type`.
"""

from __future__ import annotations

import json
import uuid

from starlette.responses import Response

# HTTP status of each modelled Bedrock / Bedrock Runtime error.
ERROR_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "SerializationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ServiceQuotaExceededException": 400,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    "UnknownOperationException": 404,
}

# Exceptions ConverseStream can deliver inside a 200 response.
STREAM_EXCEPTIONS = (
    "internalServerException",
    "modelStreamErrorException",
    "validationException",
    "throttlingException",
    "serviceUnavailableException",
)

DEFAULT_MESSAGES = {
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "InternalServerException": "The server encountered an internal error while processing the request.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ModelStreamErrorException": "The model stream encountered an error.",
}


def default_message(code: str) -> str:
    return DEFAULT_MESSAGES.get(canonical_code(code), f"{canonical_code(code)} (emulated).")


_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


def canonical_code(code: str) -> str:
    """'throttlingException' or 'ThrottlingException' -> 'ThrottlingException'."""
    if not code:
        raise ValueError("empty error code")
    return code[0].upper() + code[1:]


def stream_code(code: str) -> str:
    """'ThrottlingException' -> 'throttlingException' (the event-stream member name)."""
    name = code[0].lower() + code[1:]
    if name not in STREAM_EXCEPTIONS:
        raise ValueError(f"{code} cannot be sent inside a ConverseStream response")
    return name


class AwsError(Exception):
    """An error the emulator answers with, in the shape Bedrock uses."""

    def __init__(self, code: str, message: str, *, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        code = canonical_code(code)
        if status is None and code not in ERROR_STATUS:
            raise ValueError(f"unknown Bedrock error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS[code]
        self.headers = headers or {}

    def to_response(self) -> Response:
        return Response(
            content=json.dumps({"message": self.message}),
            status_code=self.status,
            media_type="application/json",
            headers={
                "x-amzn-ErrorType": self.code + _ERROR_TYPE_SUFFIX,
                "x-amzn-RequestId": str(uuid.uuid4()),
                **self.headers,
            },
        )


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)

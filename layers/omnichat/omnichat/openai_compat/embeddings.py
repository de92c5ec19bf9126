"""`POST /v1/embeddings`: text in, vectors out, in OpenAI's `list` of `embedding`s.

Inputs are strings (one or many); token arrays are refused (the backends take text).
`encoding_format: base64` (what the official Python SDK asks for by default) is the
vector's float32 little-endian bytes, base64-encoded."""

from __future__ import annotations

import base64
import struct
from typing import Any

from omnichat.billing import calls as billing
from omnichat.providers.types import Usage

from .calls import CallLog, provider_for, resolve_model
from .errors import GatewayError, from_exception, invalid
from .schemas import EmbeddingsBody

MAX_INPUTS = 2048


def texts(body: EmbeddingsBody) -> list[str]:
    raw: list[Any] = [body.input] if isinstance(body.input, str) else list(body.input)
    if not raw:
        raise invalid("input", "'input' must not be empty.", code="invalid_value")
    values = [v for v in raw if isinstance(v, str)]
    if len(values) != len(raw):
        raise invalid("input", "Token arrays are not supported: send 'input' as text.", code="unsupported_value")
    if len(values) > MAX_INPUTS:
        raise invalid("input", f"'input' takes at most {MAX_INPUTS} texts.", code="invalid_value")
    if any(not v for v in values):
        raise invalid("input", "'input' must not contain empty strings.", code="invalid_value")
    return values


def encode(vector: list[float], encoding_format: str | None) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


async def create(settings: Any, principal: Any, body: EmbeddingsBody) -> dict[str, Any]:
    inputs = texts(body)
    model = await resolve_model(settings, principal, body.model)
    log = CallLog(settings, principal, model)
    provider = provider_for(settings, model)
    await log.reserve(billing.embed_ask(model, inputs))
    try:
        kept = {"keep_alive": model.settings.keep_alive} if model.provider == "ollama" else {}
        vectors, tokens = await provider.embed(model.name, inputs, dimensions=body.dimensions, **kept)
    except Exception as exc:
        error: GatewayError = from_exception(exc)
        await log.record("error", error_code=error.code or type(exc).__name__)
        raise error from exc
    log.token()
    await log.record("complete", used=Usage(input_tokens=tokens))
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(v, body.encoding_format)}
                 for i, v in enumerate(vectors)],
        "model": model.id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }

"""Bedrock embeddings through InvokeModel (`POST /model/{modelId}/invoke`), imported by
`BedrockProvider.embed` on first use.

Amazon Titan Text Embeddings take one text per call, so a batch is one `invoke_model` per
text, run concurrently on worker threads (the HTTP client is blocking) and bounded so a
large batch does not flood Bedrock's quota. Throttling and transient failures are retried
by the client, as for chat; what is left surfaces as a typed ProviderError (`map_error`).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequest, ProviderError

if TYPE_CHECKING:
    from email.message import Message  # http.client.HTTPMessage's base

    from ..aws.client import AwsHttpClient

PROVIDER = "bedrock"
MAX_CONCURRENT_CALLS = 8
# Model ids (or profile ids / ARNs) Bedrock serves embeddings for.
_EMBEDDING_MODEL = re.compile(r"titan-embed|cohere\.embed", re.IGNORECASE)
_TITAN = re.compile(r"titan-embed", re.IGNORECASE)
# Titan Text Embeddings V2 is the one Titan model that takes `dimensions`.
_TITAN_V2 = re.compile(r"titan-embed-text-v2", re.IGNORECASE)


def is_embedding_model(model: str) -> bool:
    return bool(_EMBEDDING_MODEL.search(model))


def titan_body(text: str, model: str, dimensions: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"inputText": text}
    if dimensions is not None:
        if not _TITAN_V2.search(model):
            message = f"Model {model!r} does not accept 'dimensions'."
            raise InvalidRequest(message, message=message, provider=PROVIDER)
        body["dimensions"] = dimensions  # Bedrock itself checks the value (256, 512, 1024)
    return body


def _read(headers: Message, body: bytes) -> tuple[list[float], int]:
    """The vector and its input token count from a Titan InvokeModel response."""
    payload = json.loads(body)
    vector = payload.get("embedding")
    if not isinstance(vector, list) or not vector:
        raise ProviderError("Bedrock returned no embedding", provider=PROVIDER)
    tokens = payload.get("inputTextTokenCount")
    if tokens is None:  # Bedrock also reports it in a header on every InvokeModel
        tokens = headers.get("x-amzn-bedrock-input-token-count", 0)
    return [float(v) for v in vector], int(tokens)


async def embed(client: AwsHttpClient, model: str, inputs: list[str], dimensions: int | None
                ) -> tuple[list[list[float]], int]:
    """One vector per input, in order, and the total input tokens; a model that is not an
    embedding model is refused before any call."""
    from .bedrock import map_error, model_path

    if not is_embedding_model(model):
        message = f"Model {model!r} does not support embeddings through this server."
        raise InvalidRequest(message, message=message, provider=PROVIDER)
    if not _TITAN.search(model):  # Cohere's body (texts[], input_type) is not wired up yet
        message = f"Model {model!r}: only Amazon Titan embedding models are supported on Bedrock by this server."
        raise InvalidRequest(message, message=message, provider=PROVIDER)
    bodies = [json.dumps(titan_body(text, model, dimensions)) for text in inputs]
    gate = asyncio.Semaphore(MAX_CONCURRENT_CALLS)

    def call(body: str) -> tuple[list[float], int]:
        try:
            return _read(*client.call("POST", model_path(model, "invoke"), body.encode(),
                                      {"Content-Type": "application/json", "Accept": "application/json"}))
        except Exception as exc:
            raise map_error(exc) from exc

    async def one(body: str) -> tuple[list[float], int]:
        async with gate:
            return await asyncio.to_thread(call, body)

    results = await asyncio.gather(*(one(body) for body in bodies))
    return [vector for vector, _ in results], sum(tokens for _, tokens in results)

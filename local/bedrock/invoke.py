"""Bedrock Runtime `POST /model/{modelId}/invoke` (InvokeModel) for embedding models, with
Amazon Titan Text Embeddings V2's native body:

    {"inputText": str, "dimensions": 256|512|1024, "normalize": bool,
     "embeddingTypes": ["float", "binary"]}
    -> {"embedding": [...], "embeddingsByType": {"float": [...]}, "inputTextTokenCount": N}

Vectors come from the model's engine (`Engine.embed`), resized to `dimensions` by
`resize` and then L2-normalised unless `normalize` is false. Other models (chat, image)
are refused with a ValidationException: their native InvokeModel bodies are not emulated.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .catalog import FoundationModel
from .errors import AwsError, validation
from .generation import EngineFailure, PromptTooLong
from .state import EmulatorState

TITAN_DIMENSIONS = (256, 512, 1024)
TITAN_DEFAULT_DIMENSIONS = 1024
TITAN_MAX_CHARS = 50_000
EMBEDDING_TYPES = ("float", "binary")
_KEYS = ("inputText", "dimensions", "normalize", "embeddingTypes")
_JSON_TYPES = {bool: "Boolean", int: "Integer", float: "Number", str: "String",
               list: "JSONArray", dict: "JSONObject", type(None): "Null"}


def _malformed(detail: str) -> AwsError:
    # Titan's JSON-schema validator phrases its errors this way.
    return validation(f"Malformed input request: {detail}, please reformat your input and try again.")


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class TitanCall:
    text: str
    dimensions: int = TITAN_DEFAULT_DIMENSIONS
    normalize: bool = True
    types: tuple[str, ...] = ("float",)


def parse_titan(body: Any) -> TitanCall:
    """Check a Titan Text Embeddings V2 body the way Bedrock does."""
    if not isinstance(body, dict):
        raise _malformed(f"#: expected type: JSONObject, found: {_type_name(body)}")
    for key in body:
        if key not in _KEYS:
            raise _malformed(f"#: extraneous key [{key}] is not permitted")
    if "inputText" not in body:
        raise _malformed("#: required key [inputText] not found")
    text = body["inputText"]
    if not isinstance(text, str):
        raise _malformed(f"#/inputText: expected type: String, found: {_type_name(text)}")
    if not text:
        raise _malformed("#/inputText: expected minLength: 1, actual: 0")
    if len(text) > TITAN_MAX_CHARS:
        raise _malformed(f"#/inputText: expected maxLength: {TITAN_MAX_CHARS}, actual: {len(text)}")
    dimensions = body.get("dimensions", TITAN_DEFAULT_DIMENSIONS)
    if isinstance(dimensions, bool) or dimensions not in TITAN_DIMENSIONS:
        raise _malformed(f"#/dimensions: {json.dumps(dimensions)} is not a valid enum value")
    normalize = body.get("normalize", True)
    if not isinstance(normalize, bool):
        raise _malformed(f"#/normalize: expected type: Boolean, found: {_type_name(normalize)}")
    types = body.get("embeddingTypes", ["float"])
    if not isinstance(types, list):
        raise _malformed(f"#/embeddingTypes: expected type: JSONArray, found: {_type_name(types)}")
    if not types:
        raise _malformed("#/embeddingTypes: expected minimum item count: 1, found: 0")
    for i, kind in enumerate(types):
        if kind not in EMBEDDING_TYPES:
            raise _malformed(f"#/embeddingTypes/{i}: {json.dumps(kind)} is not a valid enum value")
    return TitanCall(text, int(dimensions), normalize, tuple(dict.fromkeys(types)))


def _signs(dimensions: int) -> list[float]:
    """A fixed +-1 pattern per output size, so repeated copies of a vector differ."""
    raw = hashlib.shake_256(f"titan-resize:{dimensions}".encode()).digest((dimensions + 7) // 8)
    return [1.0 if raw[i // 8] >> (i % 8) & 1 else -1.0 for i in range(dimensions)]


def resize(vector: list[float], dimensions: int) -> list[float]:
    """The engine's vector at `dimensions`: cut when longer; when shorter, repeated end to
    end with each element multiplied by a fixed +-1 sign. Deterministic, and when the size
    is a multiple of the engine's (64 -> 256/512/1024) dot products scale by the number of
    copies, so cosine similarities are exactly the engine's."""
    if not vector:
        raise ValueError("the engine returned an empty vector")
    if len(vector) >= dimensions:
        return list(vector[:dimensions])
    signs = _signs(dimensions)
    return [vector[i % len(vector)] * signs[i] for i in range(dimensions)]


def normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm > 0 else list(vector)


def _check_headers(request: Request) -> None:
    content_type = request.headers.get("content-type", "application/json")
    if content_type.split(";")[0].strip().lower() not in ("application/json", ""):
        raise validation(f"The provided Content-Type '{content_type}' is not supported for this model.")
    accept = request.headers.get("accept", "application/json")
    if accept.split(";")[0].strip().lower() not in ("application/json", "*/*", ""):
        raise validation(f"The provided Accept Type '{accept}' is not supported for this model.")


def _embedding_model(model: FoundationModel) -> None:
    if "EMBEDDING" not in model.output_modalities or "TEXT" not in model.input_modalities:
        raise validation(
            f"InvokeModel is only emulated for text embedding models; {model.model_id} "
            "is not one. Use Converse / ConverseStream for text models."
        )


def _too_long(model: FoundationModel, tokens: int | None) -> AwsError:
    count = "" if tokens is None else f", request input token count: {tokens}"
    return validation(f"400 Bad Request: Too many input tokens. Max input tokens: "
                      f"{model.context_window}{count}")


async def invoke_model(request: Request) -> Response:
    started = time.perf_counter()
    state: EmulatorState = request.app.state.emulator
    model_id = request.path_params["model_id"]
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _malformed("#: the request body is not valid JSON") from None
    state.journal.record("InvokeModel", model_id, body)
    fault = state.faults.take("InvokeModel", model_id)
    if fault is not None and fault.kind == "stall":
        await asyncio.sleep(fault.seconds)
    if fault is not None and fault.kind == "error":
        raise fault.aws_error()
    model = state.catalog.resolve(model_id)
    state.access.check(model)
    _embedding_model(model)
    _check_headers(request)
    call = parse_titan(body)
    runner = state.runner_for(model)
    try:
        vectors, tokens = await runner.embed([call.text])
    except PromptTooLong:  # the engine's context is smaller than the model's limit
        raise _too_long(model, None) from None
    except EngineFailure as exc:
        raise AwsError("ModelErrorException", f"The model failed: {exc}") from None
    if tokens > model.context_window:
        raise _too_long(model, tokens)
    vector = resize(vectors[0], call.dimensions)
    if call.normalize:
        vector = normalise(vector)
    by_type: dict[str, list[Any]] = {}
    if "float" in call.types:
        by_type["float"] = vector
    if "binary" in call.types:  # one bit per dimension: the sign of each value
        by_type["binary"] = [1 if v > 0 else 0 for v in vector]
    return JSONResponse(
        {"embedding": vector, "embeddingsByType": by_type, "inputTextTokenCount": tokens},
        headers={
            "x-amzn-RequestId": request.headers.get("amz-sdk-invocation-id", "emulated"),
            # Bedrock reports usage on InvokeModel in these (unmodelled) headers.
            "X-Amzn-Bedrock-Input-Token-Count": str(tokens),
            "X-Amzn-Bedrock-Invocation-Latency": str(int((time.perf_counter() - started) * 1000)),
        },
    )


routes = [Route("/model/{model_id:path}/invoke", invoke_model, methods=["POST"])]

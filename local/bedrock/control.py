"""Bedrock control plane (`bedrock` service): ListFoundationModels, ListInferenceProfiles."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import validation
from .state import EmulatorState

_MODALITIES = ("TEXT", "IMAGE", "EMBEDDING")
_INFERENCE_TYPES = ("ON_DEMAND", "PROVISIONED")
_CUSTOMIZATIONS = ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION")
_PROFILE_TYPES = ("SYSTEM_DEFINED", "APPLICATION")


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


def _apply_fault(state: EmulatorState, operation: str) -> None:
    fault = state.faults.take(operation)
    if fault is not None and fault.kind == "error":
        raise fault.aws_error()


def _enum(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in allowed:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return value


async def list_foundation_models(request: Request) -> Response:
    state = _state(request)
    state.journal.record("ListFoundationModels", None, dict(request.query_params))
    _apply_fault(state, "ListFoundationModels")
    modality = _enum(request, "byOutputModality", _MODALITIES)
    inference = _enum(request, "byInferenceType", _INFERENCE_TYPES)
    customization = _enum(request, "byCustomizationType", _CUSTOMIZATIONS)
    provider = request.query_params.get("byProvider")
    models = [
        m for m in state.catalog.models
        if (modality is None or modality in m.output_modalities)
        # PROVISIONED throughput is not emulated: no model offers it.
        and (inference is None or inference in m.inference_types)
        and customization is None  # nor is model customization
        and (provider is None or provider.lower() == m.provider.lower())
    ]
    region = state.catalog.region
    return JSONResponse({"modelSummaries": [m.summary(region) for m in models]})


def _page_start(token: str | None) -> int:
    if token is None:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise validation("The pagination token is invalid.") from None
    if start < 0:
        raise validation("The pagination token is invalid.")
    return start


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


async def list_inference_profiles(request: Request) -> Response:
    state = _state(request)
    state.journal.record("ListInferenceProfiles", None, dict(request.query_params))
    _apply_fault(state, "ListInferenceProfiles")
    kind = _enum(request, "type", _PROFILE_TYPES)
    try:
        max_results = int(request.query_params.get("maxResults", "1000"))
    except ValueError:
        raise validation("maxResults must be an integer.") from None
    if not 1 <= max_results <= 1000:
        raise validation(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to "
            "satisfy constraint: Member must have value between 1 and 1000"
        )
    # Only system-defined profiles exist here: APPLICATION profiles are user-created.
    profiles = list(state.catalog.profiles) if kind in (None, "SYSTEM_DEFINED") else []
    start = _page_start(request.query_params.get("nextToken"))
    page = profiles[start:start + max_results]
    body: dict = {"inferenceProfileSummaries": [p.summary(state.catalog.region) for p in page]}
    if start + max_results < len(profiles):
        body["nextToken"] = _page_token(start + max_results)
    return JSONResponse(body)


routes = [
    Route("/foundation-models", list_foundation_models, methods=["GET"]),
    Route("/inference-profiles", list_inference_profiles, methods=["GET"]),
]

"""Emulator-only endpoints under `/_emulator/` (not part of Bedrock): queue faults and
read the request journal from another process.

    POST   /_emulator/faults    {"kind": "error", "code": "ThrottlingException", "times": 2}
    GET    /_emulator/faults    pending faults
    DELETE /_emulator/faults    clear them
    GET    /_emulator/requests  the journal (?operation=ConverseStream)
    DELETE /_emulator/requests  clear it
    POST   /_emulator/access    {"model_id": "...", "state": "not_subscribed"} (access.py)
    GET    /_emulator/access    the models not enabled; DELETE: enable them all
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Fault
from .state import EmulatorState


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.faults.clear()
        return Response(status_code=204)
    if request.method == "POST":
        try:
            spec = json.loads(await request.body())
            if "operations" in spec:
                spec["operations"] = frozenset(spec["operations"])
            fault = state.faults.add(Fault(**spec))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"message": f"invalid fault: {exc}"}, status_code=400)
        return JSONResponse(fault.to_dict(), status_code=201)
    return JSONResponse({"faults": [f.to_dict() for f in state.faults.pending()]})


async def requests(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.journal.clear()
        return Response(status_code=204)
    operation = request.query_params.get("operation")
    return JSONResponse({"requests": state.journal.entries(operation)})


async def access(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.access.clear()
        return Response(status_code=204)
    if request.method == "POST":
        try:
            spec = json.loads(await request.body())
            state.access.set(str(spec["model_id"]), str(spec["state"]))
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"message": f"invalid access setting: {exc}"}, status_code=400)
    return JSONResponse({"models": state.access.states()})


async def health(request: Request) -> Response:
    catalog = _state(request).catalog
    return JSONResponse({"status": "ok", "region": catalog.region, "models": len(catalog.models)})


routes = [
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/requests", requests, methods=["GET", "DELETE"]),
    Route("/_emulator/access", access, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/health", health, methods=["GET"]),
]

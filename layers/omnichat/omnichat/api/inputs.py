"""Request input the API can trust before any route runs. Every router is built with
`route_class=CheckedRoute`:

- a JSON body is parsed by the platform's one loader (`omnichat.checks.load_json`, as /v1
  and WebSocket frames are): nested too deeply, a number of over 4,300 digits, NaN, or a
  string no database can store (a lone surrogate, NUL) is a 400 `invalid_json`, before
  validation, the database or the response could fail on it;
- path and query parameters are held to the same rule for strings (400 `invalid_parameter`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from omnichat.checks import NotJson, load_json, storable


class BadInput(HTTPException):
    """An HTTPException so that FastAPI's body parsing re-raises it as it is (it turns other
    exceptions into a bare 400); the API's error handler answers with `code`."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(400, message)
        self.code = code


class CheckedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = load_json(await self.body())
            except NotJson as fault:
                raise BadInput(str(fault), "invalid_json") from None
        return self._json


def _check_parameters(request: Request) -> None:
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if not storable(value):
            raise BadInput(f"{name}: not valid text (NUL or a lone surrogate)", "invalid_parameter")


class CheckedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            _check_parameters(request)
            return await handler(CheckedJsonRequest(request.scope, request.receive))

        return checked

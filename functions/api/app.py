"""Lambda "api": the REST API (FastAPI) behind the HTTP API, through Mangum.

The app is built on the first invocation (importing this module stays cheap for tools and
tests), or in INIT under SnapStart so the snapshot holds it; then every warm invocation
reuses it. Building it does no I/O: the database and the secret are reached on first use."""

from __future__ import annotations

from typing import Any

from omnichat import snapstart

_adapter: Any = None


def _build() -> Any:
    from mangum import Mangum

    from omnichat.api.app import create_app

    return Mangum(create_app(), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _adapter
    if _adapter is None:
        _adapter = _build()
    return _adapter(event, context)


# A request for a path no route has. FastAPI builds each route's dependencies on an app's
# first request (about 120 ms of CPU for ours); this one makes it build them all, with no
# I/O, so under SnapStart the snapshot holds them and no user's first request pays.
_WARM_UP = {"version": "2.0", "routeKey": "$default", "rawPath": "/api/snapstart-warm-up", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": False,
            "requestContext": {"http": {"method": "GET", "path": "/api/snapstart-warm-up", "protocol": "HTTP/1.1",
                                        "sourceIp": "127.0.0.1"}, "stage": "$default", "requestId": "snapstart"}}

if snapstart.snapshotting():
    _adapter = _build()
    _adapter(_WARM_UP, None)
    snapstart.prepare("pg8000.dbapi")

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


if snapstart.snapshotting():
    _adapter = _build()
    snapstart.prepare("pg8000.dbapi")

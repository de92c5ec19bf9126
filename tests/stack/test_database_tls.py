"""The template makes RDS Proxy refuse clients without TLS (RequireTLS: true) and forces
TLS on the database (rds.force_ssl). The code must then speak TLS to PostgreSQL when it
runs in AWS: this checks what the core's engine hands the driver, with the driver's
connect replaced (no network)."""

from __future__ import annotations

from typing import Any

import pytest


class Captured(Exception):
    pass


def test_template_requires_tls_to_the_database(resources: dict[str, Any]) -> None:
    assert resources["DbProxy"]["Properties"]["RequireTLS"] is True
    assert resources["DbParameterGroup"]["Properties"]["Parameters"]["rds.force_ssl"] == "1"


def test_the_core_connects_to_postgresql_with_tls_in_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    import pg8000
    import pg8000.dbapi

    from omnichat.config import get_settings
    from omnichat.db.engine import build_engine

    seen: dict[str, Any] = {}

    def connect(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise Captured()

    monkeypatch.setattr(pg8000, "connect", connect)
    monkeypatch.setattr(pg8000.dbapi, "connect", connect)
    monkeypatch.setenv("OMNICHAT_ENV", "aws")
    get_settings.cache_clear()
    try:
        engine = build_engine("postgresql+pg8000://omnichat:secret@proxy.example.internal:5432/omnichat")
        with pytest.raises(Captured):
            engine.connect()
    finally:
        get_settings.cache_clear()
    assert seen, "the engine never reached the driver"
    assert seen.get("ssl_context"), (
        "RDS Proxy in template.yaml requires TLS (RequireTLS: true), but the engine connects without "
        "ssl_context: pass connect_args={'ssl_context': ssl.create_default_context()} for PostgreSQL in AWS")

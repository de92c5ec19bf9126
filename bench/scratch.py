"""A throwaway database for a bench run: a SQLite file, or on a PostgreSQL server a database
made for the run and dropped after it (its pooled connections closed first)."""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def scratch_database(server: str | None, folder: Path | None = None, prefix: str = "omnichat_bench") -> Iterator[str]:
    """Yields the scratch database's URL: `server` (a PostgreSQL URL) names the server to make
    it on; without one, a SQLite file in `folder` (a new temporary folder by default)."""
    if not server:
        yield f"sqlite:///{(folder or Path(tempfile.mkdtemp())) / 'bench.db'}"
        return
    import pg8000.native
    from sqlalchemy.engine import make_url

    base = make_url(server)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"

    def admin(sql: str) -> None:
        conn: Any = pg8000.native.Connection(user=base.username or "postgres", password=base.password,
                                             host=base.host or "127.0.0.1", port=base.port or 5432,
                                             database=base.database or "postgres")
        try:
            conn.run(sql)
        finally:
            conn.close()

    admin(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        # The pools of this process (if it loaded them) close their connections to it first.
        engine, lite = sys.modules.get("omnichat.db.engine"), sys.modules.get("omnichat.db.lite")
        if engine is not None:
            engine.dispose_all()
        for conn in lite._idle.pop(url, []) if lite is not None else []:
            conn.close()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

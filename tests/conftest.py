"""Shared fixtures. Every test that takes `db_url` (directly or through `settings`,
`app`, `client`) runs twice: on SQLite and on PostgreSQL (OMNICHAT_TEST_DATABASE_URL; a
throwaway database is created on that server for the run and dropped after it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from omnichat.auth import passwords
from omnichat.config import Settings
from omnichat.db import engine as db_engine
from omnichat.db import migrate
from omnichat.db.models import Base
from tests.ollama_server import ollama_server  # noqa: F401 - the one shared Ollama server, for every suite

PG_ENV = "OMNICHAT_TEST_DATABASE_URL"

# The fast loop's markers, given by where a test lives (one table of node id prefixes;
# pyproject.toml says what each means): `pytest -m "not browser and not tooling and not slow"`.
# CI runs them all. Measured with --durations: each of these takes 10 s to minutes.
MARKED_PATHS = {
    "tests/browser/": "browser",
    "tests/client/": "slow",
    "tests/e2e/": "slow",
    "tests/test_openapi_conformance.py": "slow",
    "tests/test_chats.py::test_sixty_thousand_messages": "slow",
    "tests/stack/test_static_checks.py": "tooling",
    "tests/stack/test_sam_build.py": "tooling",
    "tests/stack/test_sam_routes.py": "tooling",
    "tests/stack/test_cold_start_bench.py": "tooling",
    "tests/stack/test_frontend_distribution.py": "tooling",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for prefix, marker in MARKED_PATHS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(marker)
        group = _xdist_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def _xdist_group(item: pytest.Item) -> str | None:
    """Under `pytest -n N --dist loadgroup`, tests that share a module- or package-scoped
    fixture (a server, a sam build, a checkov report) run on one worker, so it is made once;
    the others spread freely. Session-scoped fixtures are per worker and safe to repeat
    (each makes its own database, ports and temporary files)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    path = item.nodeid.split("::")[0]
    groups = set()
    for name in info.names_closure:
        for fixturedef in info.name2fixturedefs.get(name, ()):
            if fixturedef.scope == "package":
                groups.add(fixturedef.baseid or path.rsplit("/", 1)[0])
            elif fixturedef.scope in ("module", "class"):
                groups.add(path)
    # A package's group holds its modules' groups too: the widest scope wins.
    return min(groups, key=len) if groups else None


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """argon2id with test-sized cost: the same algorithm and code path, a fraction of the
    time, so suites that create hundreds of accounts stay fast."""
    original = passwords._hasher
    passwords._hasher = lambda: _TEST_HASHER  # type: ignore[assignment]
    passwords.dummy_hash.cache_clear()
    yield
    passwords._hasher = original  # type: ignore[assignment]
    passwords.dummy_hash.cache_clear()


_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _pg_admin_connection(url: str):  # type: ignore[no-untyped-def]
    import pg8000.native

    u = make_url(url)
    return pg8000.native.Connection(user=u.username or "postgres", password=u.password, host=u.host or "127.0.0.1",
                                    port=u.port or 5432, database=u.database or "postgres")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL variant not run")
    name = f"omnichat_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_connection(base)
    admin.run(f'CREATE DATABASE "{name}"')
    admin.close()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    db_engine.dispose_all()
    admin = _pg_admin_connection(base)
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'omnichat.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate.upgrade(url)
    return url


def wipe(url: str) -> None:
    with db_engine.session_scope(url) as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))


@pytest.fixture
def db_url(migrated_db_url: str) -> str:
    """A migrated, empty database (SQLite and PostgreSQL variants)."""
    wipe(migrated_db_url)
    return migrated_db_url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # A closed port, not Ollama's default: a model server the developer runs must not change
    # what these tests see, and a refused connection fails at once.
    return Settings(home=tmp_path / "home", database_url=db_url, jwt_secret="test-secret-" + "x" * 32,
                    ollama_host="http://127.0.0.1:9", provider_max_attempts=1)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from omnichat.api.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c

"""Shared fixtures. Every test that takes `db_url` (directly or through `settings`,
`app`, `client`) runs twice: on SQLite and on PostgreSQL (OMNICHAT_TEST_DATABASE_URL; a
throwaway database is created on that server for the run and dropped after it)."""

from __future__ import annotations

import gc
import os
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from local.serve import ServerThread
from omnichat.config import Settings
from omnichat.db import engine as db_engine
from omnichat.db import migrate
from omnichat.db.models import Base
from tests.ollama_server import ollama_server  # noqa: F401 - the one shared Ollama server, for every suite
from tests.password_cost import use_test_cost

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
    "tests/stack/test_sam_build.py": "tooling",
    "tests/stack/test_sam_routes.py": "tooling",
    "tests/stack/test_cold_start_bench.py": "tooling",
    "tests/stack/test_frontend_distribution.py": "tooling",
}


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (every module, plugin and test item: most of a worker's heap)
    lives until the end: out of the garbage collector's sight. Each full collection scanned
    it again (~0.2 s of CPU); the non-browser suite's CPU falls by ~4 %."""
    gc.collect()
    gc.freeze()


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
    fixture (a server, a sam build, the cold-start bench) run on one worker, so it is made once;
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
    """argon2id with test-sized cost (tests/password_cost.py): the same algorithm and code
    path, a fraction of the time, so suites that create hundreds of accounts stay fast."""
    restore = use_test_cost()
    yield
    restore()


@pytest.fixture(scope="session", autouse=True)
def shared_default_tls_context() -> Iterator[None]:
    """Every httpx client made with the default TLS settings shares one SSL context: making
    one loads the CA bundle, 20 ms of CPU, and the suite makes thousands of clients (the
    openai SDK's, httpx.get's, the test clients') that never open a TLS connection. httpx
    does not change a context once made, so sharing it is what its docs suggest."""
    import functools
    import importlib

    originals = {}
    for name in ("httpx._transports.default", "httpx2._transports.default"):  # httpx2: starlette's, openai's
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        originals[module] = module.create_ssl_context
    for module, create in originals.items():
        cached = functools.lru_cache(maxsize=None)(create)

        def create_ssl_context(verify=True, cert=None, trust_env=True, _create=create, _cached=cached):  # type: ignore[no-untyped-def]
            if verify is True and cert is None:  # the default: shared; a caller's own settings are not
                return _cached(verify, cert, trust_env)
            return _create(verify=verify, cert=cert, trust_env=trust_env)

        module.create_ssl_context = create_ssl_context  # type: ignore[attr-defined]
    yield
    for module, create in originals.items():
        module.create_ssl_context = create  # type: ignore[attr-defined]


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
    # A throwaway database: commits need not wait for the disk (a crash loses it anyway);
    # every statement and lock behaves the same.
    admin.run(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
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
def user_id(db_url: str) -> str:
    """A user row, for tests below the REST API (documents, store, indexer)."""
    from omnichat.db import lite
    from omnichat.ids import new_id

    uid = new_id()
    lite.run(db_url, lambda db: db.insert("users", {"id": uid, "email": f"{uid}@example.com", "password_hash": "-",
                                                    "role": "user"}))
    return uid


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files handed to the indexer (documents/queue.py), none indexed: tests of uploads."""
    from omnichat.documents import queue

    handed: list[str] = []
    monkeypatch.setattr(queue, "enqueue", lambda settings, file_id: handed.append(file_id))
    return handed


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # A closed port, not Ollama's default: a model server the developer runs must not change
    # what these tests see, and a refused connection fails at once.
    return Settings(home=tmp_path / "home", database_url=db_url, jwt_secret="test-secret-" + "x" * 32,
                    ollama_host="http://127.0.0.1:9", provider_max_attempts=1)


_APPS: OrderedDict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = OrderedDict()


def app_for(create_app: Callable[..., Any], settings: Settings, **options: Any) -> Any:
    """`create_app(settings, **options)`, reused by the tests whose settings differ only in
    their home, database and model servers (each test's own Ollama has its own port). A
    FastAPI app builds its routes' dependencies on its first request, about 120 ms of CPU,
    and a thousand tests each want an app: they get one made for settings equal but for
    those, with its state (`app.state`, where every route reads its settings) as it was
    when made, but for this test's settings."""
    key = (create_app, replace(settings, home=Path("/"), database_url="", ollama_host="", ollama_hosts=""),
           tuple(sorted(options.items())))
    if key not in _APPS:
        made = create_app(settings, **options)
        _APPS[key] = made, dict(made.state._state)
        if len(_APPS) > 16:
            _APPS.popitem(last=False)
    _APPS.move_to_end(key)
    made, state = _APPS[key]
    made.state._state.clear()  # State stores attributes in this dict (setting it would add a key)
    made.state._state.update(state, settings=settings)
    return made


@pytest.fixture
def app(settings: Settings, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The REST API; in a module that sets LIVE_PROVIDERS = True, on `live_settings`."""
    from omnichat.api.app import create_app

    if getattr(request.module, "LIVE_PROVIDERS", False):
        return app_for(create_app, request.getfixturevalue("live_settings"))
    return app_for(create_app, settings)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def bedrock_emulator() -> Iterator[ServerThread]:
    """local/bedrock's emulator (Bedrock's runtime and control plane), one per test module."""
    from local.bedrock import create_app as bedrock_app

    with ServerThread(bedrock_app()) as server:
        yield server


@pytest.fixture
def live_settings(settings: Settings, ollama_server: ServerThread,  # noqa: F811 - the fixture imported above
                  bedrock_emulator: ServerThread, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """`settings` with real model providers: the shared local Ollama (the test model) and the
    module's Bedrock emulator, reached with test credentials; the model catalog's cache emptied."""
    from omnichat.catalog import catalog

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    catalog.invalidate_cache()
    return settings.with_overrides(ollama_host=ollama_server.url, bedrock_enabled=True,
                                   bedrock_runtime_endpoint=bedrock_emulator.url, bedrock_endpoint=bedrock_emulator.url)

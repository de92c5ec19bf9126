"""The template makes RDS Proxy refuse clients without TLS (RequireTLS: true) and forces
TLS on the database (rds.force_ssl). The code must then speak TLS to PostgreSQL when it
runs in AWS. Migrations connect through SQLAlchemy (`engine.build_engine`); every request
connects through `db/lite.py` (`dbapi.connect`): both are checked, the second against a
PostgreSQL endpoint on a local socket (a TLS-less one, then one with an untrusted certificate)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL's SSLRequest: length, code


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


class FakePostgres:
    """Answers each of `connections` connections' SSLRequest with `N` (no TLS; a startup
    message sent next in clear text is refused with an error) or `S` and a TLS handshake with
    `cert`; records the first bytes of each connection and whether a handshake completed."""

    def __init__(self, cert: tuple[Path, Path] | None, connections: int = 1) -> None:
        self.cert, self.openings, self.handshakes = cert, [], 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, args=(connections,), daemon=True)
        self._thread.start()

    @property
    def first_bytes(self) -> bytes:
        return self.openings[0] if self.openings else b""

    def _serve(self, connections: int) -> None:
        for _ in range(connections):
            sock, _ = self._listener.accept()
            with sock:
                sock.settimeout(10)
                opening = sock.recv(8)
                self.openings.append(opening)
                if opening != SSL_REQUEST:
                    self._refuse(sock, opening)
                elif self.cert is None:
                    sock.sendall(b"N")
                    opening = sock.recv(8)
                    if opening:  # the client goes on in clear text on this connection
                        self._refuse(sock, opening)
                else:
                    self._handshake(sock)

    @staticmethod
    def _refuse(sock: socket.socket, opening: bytes) -> None:
        """Read the rest of a startup message, then refuse it (as a bad password would be)."""
        length = struct.unpack("!i", opening[:4])[0]
        while length > len(opening):
            opening += sock.recv(length - len(opening))
        sock.sendall(REFUSED)

    def _handshake(self, sock: socket.socket) -> None:
        sock.sendall(b"S")
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(*self.cert)  # type: ignore[misc]
        try:
            server.wrap_socket(sock, server_side=True).close()
        except (ssl.SSLError, OSError):
            return  # the client refused the certificate
        self.handshakes += 1

    def close(self) -> None:
        self._thread.join(10)
        self._listener.close()


# A FATAL ErrorResponse (severity, SQLSTATE 28P01, message), as PostgreSQL ends a refused startup.
_FIELDS = b"SFATAL\0C28P01\0Mrefused by the test server\0\0"
REFUSED = b"E" + struct.pack("!i", 4 + len(_FIELDS)) + _FIELDS


@pytest.fixture
def db_tls_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from omnichat.config import get_settings

    monkeypatch.setenv("OMNICHAT_DB_TLS", "true")
    get_settings.cache_clear()
    assert get_settings().db_tls
    yield
    get_settings.cache_clear()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return cert, key


def causes(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def test_requests_refuse_a_database_without_tls(db_tls_on: None) -> None:
    """pg8000 falls back to clear text when a server declines TLS and no context was given;
    with `db_tls` the request path's connection refuses instead."""
    from omnichat.db import lite

    server = FakePostgres(cert=None)
    try:
        with pytest.raises(Exception, match="refuses SSL"):
            lite.run(f"postgresql+pg8000://omnichat:secret@localhost:{server.port}/omnichat", lambda db: None)
    finally:
        server.close()
    assert server.first_bytes == SSL_REQUEST


def test_requests_verify_the_database_certificate(db_tls_on: None, tmp_path: Path) -> None:
    """A server offering TLS with a certificate no trusted CA signed is refused: the context
    checks the chain (RDS chains to the Amazon roots in the system's CA store)."""
    from omnichat.db import lite

    server = FakePostgres(cert=self_signed(tmp_path))
    try:
        with pytest.raises(Exception) as err:
            lite.run(f"postgresql+pg8000://omnichat:secret@localhost:{server.port}/omnichat", lambda db: None)
    finally:
        server.close()
    assert server.first_bytes == SSL_REQUEST
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(err.value)), err.value


@pytest.mark.skipif(not os.environ.get("OMNICHAT_TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="OMNICHAT_TEST_DATABASE_URL (a TLS-less PostgreSQL) is not set")
def test_requests_refuse_the_local_tls_less_postgresql(db_tls_on: None) -> None:
    from omnichat.db import lite

    with pytest.raises(Exception, match="refuses SSL"):
        lite.run(os.environ["OMNICHAT_TEST_DATABASE_URL"], lambda db: None)


@pytest.fixture
def db_tls_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from omnichat.config import get_settings
    from omnichat.db import dbapi

    monkeypatch.setenv("OMNICHAT_DB_TLS", "false")
    monkeypatch.setattr(dbapi, "_CLEAR_TEXT_SERVERS", set())  # what this test's servers answer, alone
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_without_db_tls_a_server_that_declines_tls_is_asked_once(db_tls_off: None) -> None:
    """Without `db_tls`, TLS is only preferred: a server that declines it is reached in clear
    text, and later connections in the process do not ask again (each offer cost pg8000 a new
    TLS context, 20 ms of CPU, on every connection)."""
    from omnichat.db import lite

    server = FakePostgres(cert=None, connections=3)
    url = f"postgresql+pg8000://omnichat:secret@localhost:{server.port}/omnichat"
    try:
        for _ in range(2):
            with pytest.raises(Exception, match="refused by the test server"):
                lite.run(url, lambda db: None)
    finally:
        server.close()
    assert server.openings[0] == SSL_REQUEST
    assert [o != SSL_REQUEST for o in server.openings] == [False, True, True]  # startup messages, in clear


def test_without_db_tls_a_server_offering_tls_gets_it_unverified(db_tls_off: None, tmp_path: Path) -> None:
    from omnichat.db import lite

    server = FakePostgres(cert=self_signed(tmp_path))
    try:
        with pytest.raises(Exception):  # noqa: B017 - the fake hangs up after the handshake
            lite.run(f"postgresql+pg8000://omnichat:secret@localhost:{server.port}/omnichat", lambda db: None)
    finally:
        server.close()
    assert server.openings == [SSL_REQUEST] and server.handshakes == 1


def test_one_tls_context_serves_every_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl as ssl_module

    from omnichat.db import dbapi

    made: list[ssl_module.SSLContext] = []
    create = ssl_module.create_default_context
    monkeypatch.setattr(ssl_module, "create_default_context", lambda *a, **k: made.append(create(*a, **k)) or made[-1])
    dbapi._tls_context.cache_clear()
    try:
        contexts = {id(dbapi._tls_context(verify=True)) for _ in range(5)}
        assert len(contexts) == 1 and len(made) == 1
        assert made[0].verify_mode == ssl_module.CERT_REQUIRED and made[0].check_hostname
    finally:
        dbapi._tls_context.cache_clear()

"""The small AWS clients of the cold-started functions (omnichat.aws): the SigV4 signer
is checked against botocore's own signer, the Management API client against real HTTP
peers (the local API Gateway emulator is exercised by tests/e2e and tests/ws)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from local.serve import LoopbackHTTPServer
from omnichat.aws import retry, sigv4
from omnichat.aws.client import AwsError as ManagementApiError
from omnichat.aws.connections import GoneError, ManagementApi
from omnichat.streaming.sinks import ConnectionGone, ManagementApiSink

NOW = datetime(2026, 11, 24, 12, 34, 56, tzinfo=timezone.utc)


def botocore_authorization(method: str, url: str, headers: dict[str, str], body: bytes, *, service: str,
                           region: str, creds: sigv4.Credentials, now: datetime = NOW) -> str:
    """What botocore signs for the very same request (same time, same headers)."""
    request = AWSRequest(method=method, url=url, headers={k: v for k, v in headers.items()
                                                          if k.lower() not in ("authorization", "host")}, data=body)
    auth = SigV4Auth(BotoCredentials(creds.access_key, creds.secret_key, creds.token), service, region)
    with mock.patch("botocore.auth.get_current_datetime", lambda: now.replace(tzinfo=None)):
        auth.add_auth(request)
    return request.headers["Authorization"]


@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjE//session+token=="])
@pytest.mark.parametrize("method,url,body", [
    ("POST", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/@connections/L0SM9cOFvHcCIhw%3D", b'{"a": 1}'),
    ("DELETE", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/@connections/L0SM9cOFvHcCIhw%3D", b""),
    ("POST", "https://ws.example.com/@connections/a%2Bb%2Fc", "ünïcode ✓".encode()),
    ("GET", "http://127.0.0.1:8080/v1/x?b=2&a=1&c=with%20space", b""),
])
def test_signature_matches_botocore(method: str, url: str, body: bytes, token: str | None) -> None:
    creds = sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    headers = {"Content-Type": "application/octet-stream"} if body else {}
    ours = sigv4.sign(method, url, headers, body, service="execute-api", region="eu-west-1", credentials=creds, now=NOW)
    assert ours["x-amz-date"] == "20261124T123456Z"
    assert ours.get("x-amz-security-token") == token
    assert ours["Authorization"] == botocore_authorization(
        method, url, ours, body, service="execute-api", region="eu-west-1", creds=creds)


def test_credentials_come_from_the_lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    assert sigv4.credentials() == sigv4.Credentials("AKID", "secret", "token")


def test_credentials_under_snapstart_come_from_the_container_endpoint(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Any) -> None:
    """SnapStart functions get no key variables: AWS_CONTAINER_CREDENTIALS_FULL_URI and an
    authorization token instead. Fetched once, then reused until they near expiry."""
    requests: list[str | None] = []
    expiry = (datetime.now(timezone.utc) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")

    class Endpoint(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            requests.append(self.headers.get("Authorization"))
            body = json.dumps({"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "container-secret",
                               "Token": "container-token", "Expiration": expiry}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with LoopbackHTTPServer(Endpoint) as server:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{server.server_port}/creds")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "lambda-auth-token")
        monkeypatch.setattr(sigv4, "_chain", None)
        for _ in range(3):
            assert sigv4.credentials() == sigv4.Credentials("ASIACONTAINER", "container-secret", "container-token")
        assert requests == ["lambda-auth-token"]


# ------------------------------------------------------------------ the Management API client
class Peer(LoopbackHTTPServer):
    """An HTTP/1.1 keep-alive peer that answers from a script of (status, error type) and
    records every request: method, path, headers, body, and which TCP connection it used."""

    def __init__(self, script: list[tuple[int, str | None]]) -> None:
        self.script, self.requests = list(script), []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                peer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                      "body": body, "socket": self.client_address[1]})
                status, error_type = peer.script.pop(0) if peer.script else (200, None)
                payload = json.dumps({"message": f"scripted {status}"}).encode() if error_type else b""
                self.send_response(status)
                if error_type:
                    self.send_header("x-amzn-ErrorType", f"{error_type}:http://internal.amazon.com/")
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/prod"


@pytest.fixture
def peer_factory() -> Iterator[Any]:
    started: list[Peer] = []

    def start(script: list[tuple[int, str | None]] = ()) -> Peer:  # type: ignore[assignment]
        peer = Peer(list(script)).__enter__()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.__exit__()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def test_post_is_signed_quoted_and_reuses_one_connection(peer_factory: Any) -> None:
    peer = peer_factory()
    api = ManagementApi(peer.url, "eu-west-1")
    for i in range(3):
        api.post_to_connection("L0SM9cOFvHcCIhw=", f'{{"n": {i}}}'.encode())
    api.delete_connection("L0SM9cOFvHcCIhw=")
    assert [r["method"] for r in peer.requests] == ["POST", "POST", "POST", "DELETE"]
    assert {r["path"] for r in peer.requests} == {"/prod/@connections/L0SM9cOFvHcCIhw%3D"}
    assert [r["body"] for r in peer.requests[:3]] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert len({r["socket"] for r in peer.requests}) == 1  # keep-alive, as boto3's pool
    first = peer.requests[0]["headers"]
    assert first["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert "/eu-west-1/execute-api/aws4_request" in first["Authorization"]
    expected = botocore_authorization(
        "POST", f"http://127.0.0.1:{peer.server_port}/prod/@connections/L0SM9cOFvHcCIhw%3D",
        {"Content-Type": first["Content-Type"]}, b'{"n": 0}', service="execute-api", region="eu-west-1",
        creds=sigv4.Credentials("AKID", "secret"),
        now=datetime.strptime(first["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc))
    assert first["Authorization"] == expected


def test_gone_is_typed_and_not_retried(peer_factory: Any) -> None:
    peer = peer_factory([(410, "GoneException")])
    with pytest.raises(GoneError) as gone:
        ManagementApi(peer.url, "us-east-1").post_to_connection("c1", b"x")
    assert (gone.value.status, gone.value.code) == (410, "GoneException")
    assert len(peer.requests) == 1
    sink = ManagementApiSink(peer.url, "us-east-1")  # what the relay sees
    peer.script[:] = [(410, "GoneException")]
    with pytest.raises(ConnectionGone):
        sink.post("c1", b"x")
    peer.script[:] = [(410, "GoneException")]
    sink.delete("c1")  # deleting a connection that is already gone is not an error


def test_throttling_and_5xx_are_retried_three_times_in_all(peer_factory: Any) -> None:
    peer = peer_factory([(429, "LimitExceededException"), (503, None)])
    ManagementApi(peer.url, "us-east-1").post_to_connection("c1", b"x")
    assert len(peer.requests) == 3
    peer.script[:] = [(500, "InternalServerError")] * 3
    with pytest.raises(ManagementApiError) as failed:
        ManagementApi(peer.url, "us-east-1").post_to_connection("c1", b"x")
    assert failed.value.status == 500 and failed.value.code == "InternalServerError"
    assert len(peer.requests) == 6


def test_client_errors_are_not_retried(peer_factory: Any) -> None:
    peer = peer_factory([(413, "PayloadTooLargeException"), (403, "ForbiddenException")])
    api = ManagementApi(peer.url, "us-east-1")
    for code in ("PayloadTooLargeException", "ForbiddenException"):
        with pytest.raises(ManagementApiError) as refused:
            api.post_to_connection("c1", b"x")
        assert refused.value.code == code and "scripted" in str(refused.value)
    assert len(peer.requests) == 2


def test_a_closed_idle_connection_is_replaced_not_failed(peer_factory: Any) -> None:
    peer = peer_factory()
    api = ManagementApi(peer.url, "us-east-1")
    api.post_to_connection("c1", b"1")
    for conn in api._client._idle:  # the server side drops the idle keep-alive connection
        conn.sock.shutdown(2)
    api.post_to_connection("c1", b"2")
    assert [r["body"] for r in peer.requests] == [b"1", b"2"]


def test_unreachable_endpoint_fails_after_the_attempts() -> None:
    api = ManagementApi("http://127.0.0.1:9/prod", "us-east-1", connect_timeout=0.5)
    with pytest.raises(OSError):
        api.post_to_connection("c1", b"x")


def test_endpoint_must_be_http() -> None:
    with pytest.raises(ValueError):
        ManagementApi("ftp://example.com/prod", "us-east-1")

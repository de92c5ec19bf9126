"""A minimal signed HTTPS client for the AWS APIs the cold-started functions call (the
Management API, Secrets Manager, Bedrock); see sigv4.py for why not boto3.

It keeps what a boto3 client gave us: pooled keep-alive connections shared by threads,
botocore's standard retry mode (retry.py; a streamed answer is retried only until its
status line here, its caller may retry it until its first token), endpoint overrides from
the environment (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`) and typed errors from
`x-amzn-ErrorType` or the JSON body's `__type`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from omnichat.aws import sigv4
from omnichat.aws.retry import DEFAULT_MAX_ATTEMPTS, RETRY_AFTER_HEADER, Attempts, RetryPolicy

if TYPE_CHECKING:
    import ssl  # imported at the first HTTPS connection: not on the cold start

ATTEMPTS = DEFAULT_MAX_ATTEMPTS


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after_ms: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.retry_after_ms = retry_after_ms  # the x-amz-retry-after header, if the answer had one

    def retry(self, attempts: Attempts) -> bool:
        """Waits and says True if `attempts` allows another try after this error."""
        return attempts.retry(self.status, self.code, None, self.retry_after_ms)


def endpoint_for(service_id: str, signing_name: str, region: str) -> str:
    """The endpoint boto3 would use: `AWS_ENDPOINT_URL_<SERVICE ID>`, then
    `AWS_ENDPOINT_URL`, then AWS's own for the region (VPC endpoints keep that name)."""
    configured = (os.environ.get(f"AWS_ENDPOINT_URL_{service_id.upper().replace(' ', '_').replace('-', '_')}")
                  or os.environ.get("AWS_ENDPOINT_URL"))
    if configured:
        return configured
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{signing_name}.{region}.{suffix}"


class AwsHttpClient:
    def __init__(self, endpoint_url: str, service: str, region: str | None, *, connect_timeout: float = 3.0,
                 read_timeout: float = 10.0, max_idle: int = 50, attempts: int = ATTEMPTS,
                 retry: RetryPolicy | None = None) -> None:
        parts = urlsplit(endpoint_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.service, self.region = service, region or "us-east-1"
        self.origin, self.prefix = f"{parts.scheme}://{parts.netloc}", parts.path
        self._https, self._host, self._port = parts.scheme == "https", parts.hostname, parts.port
        self._connect_timeout, self._read_timeout, self._max_idle = connect_timeout, read_timeout, max_idle
        self.retry = retry or RetryPolicy(max_attempts=max(1, attempts))
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ssl_context: ssl.SSLContext | None = None

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
        """Sends a signed request to `prefix + path`; returns the body of a 2xx answer or
        raises AwsError (after the retries, for a retryable one) or OSError."""
        return self.call(method, path, body, headers)[1]

    def call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
             ) -> tuple[http.client.HTTPMessage, bytes]:
        """As `request`, with the answer's headers too."""
        answer = self.stream(method, path, body, headers)
        try:
            return answer.headers, answer.read()
        finally:
            answer.close()

    def stream(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
               attempts: Attempts | None = None) -> Streamed:
        """A 2xx answer whose body is still to be read, for streamed answers; retried as
        `request` is until the status line arrives, never after. A caller that retries the
        body itself passes its `attempts` (self.retry.start()), so both count as one call."""
        path = self.prefix + path
        attempts = self.retry.start() if attempts is None else attempts
        while True:
            signed = dict(headers or {})
            credentials = sigv4.credentials()
            if credentials is not None:  # the local emulators take unsigned requests too
                signed = sigv4.sign(method, self.origin + path, signed, body, service=self.service,
                                    region=self.region, credentials=credentials)
            try:
                answer = self._open(method, path, signed, body)
            except (OSError, http.client.HTTPException) as exc:
                if not attempts.retry(None, None, exc):
                    raise
                continue
            if answer.status < 300:
                attempts.succeeded()
                return answer
            error = _error(answer.status, answer.headers, answer.read())
            answer.close()
            if not error.retry(attempts):
                raise error

    # ------------------------------------------------------------------ connections
    def _open(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Streamed:
        conn, reused = self._checkout()
        if reused:  # an idle keep-alive connection the server may have closed meanwhile
            try:
                return self._exchange(conn, method, path, headers, body)
            except (ConnectionError, http.client.BadStatusLine):
                conn = self._new_connection()
        return self._exchange(conn, method, path, headers, body)

    def _exchange(self, conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str],
                  body: bytes) -> Streamed:
        try:
            conn.request(method, path, body=body or None, headers=headers)
            conn.sock.settimeout(self._read_timeout)
            return Streamed(self, conn, conn.getresponse())
        except BaseException:
            conn.close()
            raise

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new_connection(), False

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._https:
            if self._ssl_context is None:
                import ssl

                self._ssl_context = ssl.create_default_context()
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout,
                                               context=self._ssl_context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()


class Streamed:
    """An answer being read. Its connection goes back to the pool once the body has been
    read to the end; `close()` before that drops the connection (it also wakes a thread
    blocked reading it)."""

    def __init__(self, client: AwsHttpClient, conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse) -> None:
        self._client, self._response = client, response
        self._conn: http.client.HTTPConnection | None = conn
        self.status, self.headers = response.status, response.headers
        self._closing = threading.Lock()  # the reader and the caller may both close it

    def read(self) -> bytes:
        return self._response.read()

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """The body as it arrives (a read timeout raises TimeoutError)."""
        while chunk := self._response.read1(size):
            yield chunk

    def close(self) -> None:
        with self._closing:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._response.isclosed() and not self._response.will_close:
            self._client._checkin(conn)
            return
        with contextlib.suppress(OSError):
            if conn.sock is not None:
                conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()


def _error(status: int, headers: http.client.HTTPMessage, body: bytes) -> AwsError:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    parsed = parsed if isinstance(parsed, dict) else {}
    code = headers.get("x-amzn-ErrorType") or parsed.get("__type") or parsed.get("code") or f"Http{status}"
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]  # "...#ResourceNotFoundException", "X:http://..."
    message = str(parsed.get("message") or parsed.get("Message") or body[:200].decode(errors="replace"))
    return AwsError(status, code, message, headers.get(RETRY_AFTER_HEADER))

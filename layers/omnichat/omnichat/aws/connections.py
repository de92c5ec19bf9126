"""The API Gateway Management API (`@connections`) over plain HTTP/1.1 keep-alive.

PostToConnection and DeleteConnection are one signed request each, so this replaces a
boto3 `apigatewaymanagementapi` client (see sigv4.py for why). It keeps what the boto3
client gave us: pooled connections shared by threads, the standard retry mode (3 attempts,
jittered backoff, on throttling, 5xx and dropped connections) and typed errors from the
`x-amzn-ErrorType` header.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from urllib.parse import quote, urlsplit

from omnichat.aws import sigv4

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
ATTEMPTS = 3


class ManagementApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


class GoneError(ManagementApiError):
    """410 GoneException: the client has disconnected."""


class ManagementApi:
    def __init__(self, endpoint_url: str, region: str | None, *, connect_timeout: float = 3.0,
                 read_timeout: float = 10.0, max_idle: int = 50) -> None:
        parts = urlsplit(endpoint_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region or "us-east-1"
        self._https, self._host, self._port = parts.scheme == "https", parts.hostname, parts.port
        self._origin, self._prefix = f"{parts.scheme}://{parts.netloc}", parts.path
        self._connect_timeout, self._read_timeout, self._max_idle = connect_timeout, read_timeout, max_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ssl_context = None

    def post_to_connection(self, connection_id: str, data: bytes) -> None:
        self._call("POST", connection_id, data)

    def delete_connection(self, connection_id: str) -> None:
        self._call("DELETE", connection_id, b"")

    # ------------------------------------------------------------------ requests
    def _call(self, method: str, connection_id: str, body: bytes) -> bytes:
        path = f"{self._prefix}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(1, ATTEMPTS + 1):
            headers = {"Content-Type": "application/octet-stream"} if body else {}
            credentials = sigv4.credentials_from_env()
            if credentials is not None:  # the local emulator takes unsigned requests too
                headers = sigv4.sign(method, self._origin + path, headers, body, service="execute-api",
                                     region=self.region, credentials=credentials)
            try:
                status, reply_headers, reply = self._send(method, path, headers, body)
            except (OSError, http.client.HTTPException):
                if attempt == ATTEMPTS:
                    raise
            else:
                if status < 300:
                    return reply
                error = _error(status, reply_headers, reply)
                if status not in RETRYABLE_STATUS or attempt == ATTEMPTS:
                    raise error
            time.sleep(random.uniform(0, min(20.0, 0.05 * 2 ** attempt)))  # "full jitter", as botocore
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes
              ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn, reused = self._checkout()
        if reused:  # an idle keep-alive connection the server may have closed meanwhile
            try:
                return self._exchange(conn, method, path, headers, body)
            except (ConnectionError, http.client.BadStatusLine):
                conn = self._new_connection()
        return self._exchange(conn, method, path, headers, body)

    def _exchange(self, conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str],
                  body: bytes) -> tuple[int, http.client.HTTPMessage, bytes]:
        try:
            conn.request(method, path, body=body or None, headers=headers)
            conn.sock.settimeout(self._read_timeout)
            response = conn.getresponse()
            reply = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            self._checkin(conn)
        return response.status, response.headers, reply

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


def _error(status: int, headers: http.client.HTTPMessage, body: bytes) -> ManagementApiError:
    code = (headers.get("x-amzn-ErrorType") or "").split(":", 1)[0] or f"Http{status}"
    try:
        message = str((json.loads(body) or {}).get("message") or "")
    except (ValueError, AttributeError):
        message = body[:200].decode(errors="replace")
    return (GoneError if status == 410 else ManagementApiError)(status, code, message)

"""Signing the terminal client in through the browser (single sign-on): a loopback
redirect, as RFC 8252 describes for native apps.

The client listens on 127.0.0.1 (a free port), opens the browser at the server's
`/api/auth/sso/start?cli_port=<port>`, and the server, once the identity provider has
signed the person in, sends the browser to `http://127.0.0.1:<port>/callback` with a
one-time code (never a token), which the client trades for a session at
`/api/auth/sso/exchange`. An error comes back the same way, with the server's message."""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from omnichat_cli.rest import ApiError, Rest

TIMEOUT_S = 300.0
PAGE = ("<!doctype html><meta charset='utf-8'><title>OmniChat</title>"
        "<p style='font:16px system-ui;margin:3em'>{}</p>")


class _Result:
    def __init__(self) -> None:
        self.params: dict[str, str] | None = None
        self.done = threading.Event()


def _handler(result: _Result) -> type[BaseHTTPRequestHandler]:
    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            if url.path != "/callback":
                self.send_error(404)
                return
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            ok = "sso" in params
            text = ("Signed in: you can close this tab and go back to the terminal." if ok
                    else "Signing in failed: see the terminal.")
            body = PAGE.format(text).encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if result.params is None:
                result.params = params
                result.done.set()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

    return Callback


def sign_in(rest: Rest, say: Callable[[str], None], open_url: Callable[[str], Any] = webbrowser.open,
            timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Sign `rest` in through the browser; the user it is now signed in as."""
    result = _Result()
    server = HTTPServer(("127.0.0.1", 0), _handler(result))
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"{rest.endpoints.api}/api/auth/sso/start?cli_port={port}"
        say(f"Sign in in your browser: {url}")
        open_url(url)
        if not result.done.wait(timeout_s):
            raise ApiError(408, "sso_timeout", "No sign-in came back from the browser in time: try again")
    finally:
        server.shutdown()
        server.server_close()
    params = result.params or {}
    if "sso" not in params:
        raise ApiError(400, params.get("sso_error", "sso_failed"), params.get("message", "Single sign-on failed"))
    return rest.exchange_sso_code(params["sso"])

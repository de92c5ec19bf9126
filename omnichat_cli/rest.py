"""The REST calls the terminal client makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status, self.code, self.message = status, code, message


class Unreachable(Exception):
    """No answer at all (refused, timed out, no such host, not a URL): one line for the user."""

    def __init__(self, url: str, reason: BaseException) -> None:
        super().__init__(f"cannot reach the OmniChat server at {url} ({str(reason) or type(reason).__name__})")


# What httpx raises when there is no HTTP answer to read.
NO_ANSWER = (httpx.TransportError, httpx.InvalidURL)


@dataclass
class Endpoints:
    api: str  # base URL of the REST API (…/api is appended by the calls)
    ws: str  # the WebSocket URL

    @classmethod
    def discover(cls, base_url: str, ws_url: str | None = None, timeout: float = 10) -> Endpoints:
        """The deployed page publishes its URLs in /config.json; use them when present, else
        the local stack's layout (REST and /ws on one host)."""
        base_url = base_url.rstrip("/")
        if not ws_url:
            try:
                response = httpx.get(f"{base_url}/config.json", timeout=timeout)
            except NO_ANSWER as exc:
                raise Unreachable(base_url, exc) from None
            try:
                config = response.json()
                ws_url = config.get("wsUrl")
                base_url = (config.get("apiUrl") or base_url).rstrip("/")
            except (ValueError, AttributeError):
                pass
        if not ws_url:
            u = urlparse(base_url)
            ws_url = f"{'wss' if u.scheme == 'https' else 'ws'}://{u.netloc}/ws"
        return cls(api=base_url, ws=ws_url)


class Rest:
    def __init__(self, endpoints: Endpoints, token: str | None = None, timeout: float = 30) -> None:
        self.endpoints = endpoints
        self.token = token
        self.http = httpx.Client(base_url=endpoints.api, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except NO_ANSWER as exc:
            raise Unreachable(self.endpoints.api, exc) from None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text[:200]}
            raise ApiError(response.status_code, error.get("code", "error"), error.get("message", ""))
        try:
            return response.json() if response.content else None
        except ValueError:
            raise ApiError(response.status_code, "not_omnichat",
                           f"{self.endpoints.api}{path} did not answer JSON: is this an OmniChat server?") from None

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        body = self._call("POST", "/api/auth/signin", json={"email": email, "password": password})
        self.token = body["access_token"]
        user: dict[str, Any] = body["user"]
        return user

    def exchange_sso_code(self, code: str) -> dict[str, Any]:
        """A session for the one-time code single sign-on handed over (browser_sign_in.py)."""
        body = self._call("POST", "/api/auth/sso/exchange", json={"code": code})
        self.token = body["access_token"]
        user: dict[str, Any] = body["user"]
        return user

    def me(self) -> dict[str, Any]:
        user: dict[str, Any] = self._call("GET", "/api/auth/me")
        return user

    def ticket(self) -> str:
        ticket: str = self._call("POST", "/api/auth/ws-ticket")["ticket"]
        return ticket

    def models(self) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = self._call("GET", "/api/models")["models"]
        return models

    def chats(self, limit: int = 20) -> list[dict[str, Any]]:
        chats: list[dict[str, Any]] = self._call("GET", "/api/chats", params={"limit": limit})["chats"]
        return chats

    def chat(self, chat_id: str) -> dict[str, Any]:
        chat: dict[str, Any] = self._call("GET", f"/api/chats/{chat_id}")
        return chat

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        """A file uploaded in one request (POST /api/files, multipart): the file object."""
        uploaded: dict[str, Any] = self._call("POST", "/api/files", files={"file": (name, data)})
        return uploaded

    def file(self, file_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", f"/api/files/{file_id}")
        return found

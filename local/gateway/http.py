"""HTTP API: route matching, payload format 2.0 events, and the Lambda's answer turned back
into an HTTP response by the format 2.0 rules.

Route selection follows API Gateway: the most specific path wins (no greedy variable, then
more literal segments), a specific method beats ANY, `$default` catches the rest, and
nothing matching is a 404 `{"message":"Not Found"}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from . import ids
from .spec import HttpRoute

_TEXT_TYPES = re.compile(r"^(text/.*|application/(.+\+)?(json|xml|javascript|ecmascript)|.*/.*\+(json|xml))$",
                         re.IGNORECASE)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


@dataclass
class _Compiled:
    route: HttpRoute
    regex: re.Pattern[str]
    rank: tuple[int, int, int, int]


class HttpRouter:
    def __init__(self, routes: list[HttpRoute]) -> None:
        compiled = []
        self.default: list[HttpRoute] = [r for r in routes if r.path is None]
        for route in routes:
            if route.path is None:
                continue
            segments = route.path.strip("/").split("/") if route.path != "/" else []
            pattern, literals, greedy = "", 0, 0
            for segment in segments:
                if segment.startswith("{") and segment.endswith("+}"):
                    pattern += rf"/(?P<{_group(segment[1:-2])}>.+)"
                    greedy = 1
                elif segment.startswith("{"):
                    pattern += rf"/(?P<{_group(segment[1:-1])}>[^/]+)"
                else:
                    pattern += "/" + re.escape(segment)
                    literals += 1
            regex = re.compile("^" + (pattern or "/") + "$")
            compiled.append(_Compiled(route, regex, (greedy, -literals, -len(segments), route.method == "ANY")))
        self.routes = sorted(compiled, key=lambda c: c.rank)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for candidate in self.routes:
            if candidate.route.method not in ("ANY", method):
                continue
            found = candidate.regex.match(path)
            if found:
                params = {_name(k): v for k, v in found.groupdict().items()}
                return candidate.route, params
        for route in self.default:
            return route, {}
        return None


def _group(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else f"_{ord(c):x}_" for c in name)


def _name(group: str) -> str:
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m.group(1), 16)), group[2:])


# ---- the request event ---------------------------------------------------------------

def build_event(scope: dict[str, Any], body: bytes, route: HttpRoute, path_params: dict[str, str],
                request_id: str, now_ms: int) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in _HOP_BY_HOP:
            continue
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    client_ip = (scope.get("client") or ("127.0.0.1", 0))[0]
    server_port = (scope.get("server") or ("", 80))[1]
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {client_ip}" if forwarded else client_ip
    headers.setdefault("x-forwarded-port", str(server_port))
    headers.setdefault("x-forwarded-proto", scope.get("scheme", "http"))
    headers.setdefault("x-amzn-trace-id", ids.trace_id())

    raw_path = scope.get("raw_path") or scope["path"].encode()
    raw_path_text = raw_path.decode("latin-1").split("?", 1)[0]
    raw_query = scope.get("query_string", b"").decode("latin-1")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path_text,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = request_context(scope, route, request_id, now_ms, headers)
    if path_params:
        event["pathParameters"] = path_params
    if body:
        content_type = headers.get("content-type", "").split(";", 1)[0].strip()
        text = _as_text(body) if _TEXT_TYPES.match(content_type) else None
        event["body"] = text if text is not None else base64.b64encode(body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def request_context(scope: dict[str, Any], route: HttpRoute, request_id: str, now_ms: int,
                    headers: dict[str, str]) -> dict[str, Any]:
    domain = headers.get("host", "localhost")
    return {
        "accountId": "123456789012",
        "apiId": route.api_id,
        "domainName": domain,
        "domainPrefix": domain.split(":", 1)[0].split(".", 1)[0],
        "http": {
            "method": scope.get("method", "GET"),
            "path": (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0],
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "sourceIp": (scope.get("client") or ("127.0.0.1", 0))[0],
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": route.stage,
        "time": ids.clf_time(now_ms),
        "timeEpoch": now_ms,
    }


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---- the response --------------------------------------------------------------------

class InvalidResponse(Exception):
    """The Lambda's answer is not a valid format 2.0 response (API Gateway: 500)."""


def to_response(value: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) from a handler's return value, format 2.0 rules: a mapping
    with statusCode is a structured response; anything else is a 200 application/json
    whose body is the value (a string as is, anything else as JSON)."""
    if not (isinstance(value, dict) and "statusCode" in value):
        text = value if isinstance(value, str) else json.dumps(value)
        return 200, [("content-type", "application/json")], text.encode()
    try:
        status = int(value["statusCode"])
    except (TypeError, ValueError):
        raise InvalidResponse(f"statusCode {value['statusCode']!r}") from None
    if not 100 <= status <= 599:
        raise InvalidResponse(f"statusCode {status}")
    headers: list[tuple[str, str]] = []
    for name, header_value in (value.get("headers") or {}).items():
        headers.append((str(name).lower(), _header_str(header_value)))
    for name, values in (value.get("multiValueHeaders") or {}).items():
        headers.extend((str(name).lower(), _header_str(v)) for v in (values or []))
    headers.extend(("set-cookie", str(cookie)) for cookie in (value.get("cookies") or []))
    body = value.get("body")
    if body is None:
        payload = b""
    elif value.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(str(body), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidResponse("isBase64Encoded with a body that is not base64") from None
    else:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
    return status, headers, payload


def _header_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def json_error(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("content-type", "application/json")], json.dumps({"message": message}).encode()

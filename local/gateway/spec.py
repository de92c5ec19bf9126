"""What the emulator serves, as read from template.yaml: functions, HTTP API routes and
WebSocket APIs. Plain data; template.py and apigwv2.py build it, the servers read it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

ACCOUNT_ID = "123456789012"


class TemplateError(Exception):
    """The template holds something the emulator cannot serve. The message names the
    resource, its type and what is wrong with it."""

    def __init__(self, logical_id: str, resource_type: str, problem: str) -> None:
        self.logical_id, self.resource_type, self.problem = logical_id, resource_type, problem
        where = f"resource {logical_id} ({resource_type})" if resource_type else f"{logical_id}"
        super().__init__(f"{where}: {problem}")


def api_id_for(logical_id: str) -> str:
    """A stable 10-character API id, shaped like API Gateway's."""
    digest = hashlib.sha256(logical_id.encode()).hexdigest()
    return "".join(c if c.isalpha() else "abcdefghij"[int(c)] for c in digest[:10])


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str                      # FunctionName, else the logical id (as `sam local` does)
    code_dir: Path
    handler: str                   # "app.handler"
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]    # Globals + own, intrinsics resolved
    unresolved_env: tuple[str, ...]  # variables dropped: their value only exists in AWS
    layer_dirs: tuple[Path, ...]   # what Lambda mounts at /opt/python
    web_adapter: bool              # Lambda Web Adapter: serve the ASGI `app` of app.py
    region: str = "us-east-1"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"

    @property
    def module_file(self) -> Path:
        module = self.handler.rsplit(".", 1)[0] if not self.web_adapter else "app"
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def attribute(self) -> str:
        return "app" if self.web_adapter else self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class HttpRoute:
    route_key: str                 # "ANY /api/{proxy+}", "GET /items/{id}" or "$default"
    method: str                    # "ANY" or an HTTP method; "ANY" for $default
    path: str | None               # None for $default
    function_id: str
    api_logical_id: str
    api_id: str
    stage: str = "$default"
    timeout_s: float | None = None  # the integration's TimeoutInMillis


@dataclass(frozen=True)
class Authorizer:
    logical_id: str
    function_id: str
    identity_sources: tuple[str, ...]  # "route.request.querystring.ticket", "route.request.header.X"


@dataclass(frozen=True)
class WsRoute:
    route_key: str
    logical_id: str
    function_id: str | None        # None: a route without an integration
    authorization_type: str = "NONE"
    authorizer: Authorizer | None = None
    has_route_response: bool = False  # only then does the Lambda's return reach the client


@dataclass
class WsApi:
    logical_id: str
    api_id: str
    stage: str
    selection_expression: str
    routes: dict[str, WsRoute] = field(default_factory=dict)
    path: str = "/ws"              # where the emulator serves it


@dataclass
class GatewaySpec:
    template_path: Path
    region: str
    functions: dict[str, FunctionSpec]
    http_routes: list[HttpRoute]
    ws_apis: list[WsApi]
    warnings: list[str] = field(default_factory=list)

    @property
    def stage(self) -> str:
        """The stage of the (first) WebSocket API: the @connections endpoint's path."""
        return self.ws_apis[0].stage if self.ws_apis else "$default"

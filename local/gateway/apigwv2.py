"""The `AWS::ApiGatewayV2` resources of a template: WebSocket APIs (routes, Lambda proxy
integrations, the REQUEST authorizer, route responses, the stage) and HTTP APIs declared
with explicit routes rather than SAM events. Any route key the template declares is served:
nothing here knows OmniChat's routes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .spec import Authorizer, FunctionSpec, HttpRoute, TemplateError, WsApi, WsRoute, api_id_for

if TYPE_CHECKING:
    from .template import TemplateReader

API = "AWS::ApiGatewayV2::Api"
ROUTE = "AWS::ApiGatewayV2::Route"
INTEGRATION = "AWS::ApiGatewayV2::Integration"
AUTHORIZER = "AWS::ApiGatewayV2::Authorizer"
STAGE = "AWS::ApiGatewayV2::Stage"
ROUTE_RESPONSE = "AWS::ApiGatewayV2::RouteResponse"

_FUNCTION_IN_ARN = re.compile(r":function:([^/:]+)")
_TARGET = re.compile(r"^integrations/([^/]+)$")
SELECTION = re.compile(r"^\$\{?request\.body\.([A-Za-z0-9_$.-]+?)\}?$")


def read(reader: TemplateReader, functions: dict[str, FunctionSpec]) -> tuple[list[WsApi], list[HttpRoute]]:
    return _V2Reader(reader, functions).read()


class _V2Reader:
    def __init__(self, reader: TemplateReader, functions: dict[str, FunctionSpec]) -> None:
        self.r, self.functions = reader, functions
        self.by_name = {fn.name: lid for lid, fn in functions.items()}

    def of_type(self, kind: str) -> list[str]:
        return [lid for lid in self.r.resources if self.r.type_of(lid) == kind and self.r.is_active(lid)]

    def api_of(self, logical_id: str) -> str:
        api = self.r.wired(logical_id, "ApiId", self.r.properties(logical_id).get("ApiId"))
        if not isinstance(api, str) or self.r.type_of(api) != API:
            raise TemplateError(logical_id, self.r.type_of(logical_id),
                                f"ApiId {api!r} does not name an {API} of this template")
        return api

    def read(self) -> tuple[list[WsApi], list[HttpRoute]]:
        apis: dict[str, WsApi] = {}
        http_apis: dict[str, str] = {}  # logical id -> stage
        for lid in self.of_type(API):
            props = self.r.properties(lid)
            protocol = str(self.r.wired(lid, "ProtocolType", props.get("ProtocolType", "")))
            if protocol == "WEBSOCKET":
                apis[lid] = self.ws_api(lid, props)
            elif protocol == "HTTP":
                if props.get("Body") or props.get("BodyS3Location") or props.get("Target"):
                    self.r.warnings.append(f"{lid}: OpenAPI bodies and quick-create targets are not emulated")
                http_apis[lid] = "$default"
            else:
                raise TemplateError(lid, API, f"ProtocolType {protocol!r} is neither WEBSOCKET nor HTTP")
        for lid in self.of_type(STAGE):
            api = self.api_of(lid)
            stage = str(self.r.wired(lid, "StageName", self.r.properties(lid).get("StageName", "$default")))
            if api in apis and apis[api].stage == "":
                apis[api].stage = stage
            elif api in http_apis:
                http_apis[api] = stage
        for ws_api in apis.values():
            ws_api.stage = ws_api.stage or "local"

        with_response = set()
        for lid in self.of_type(ROUTE_RESPONSE):
            with_response.add(str(self.r.wired(lid, "RouteId", self.r.properties(lid).get("RouteId"))))

        http_routes: list[HttpRoute] = []
        for lid in self.of_type(ROUTE):
            api = self.api_of(lid)
            if api in apis:
                route = self.ws_route(lid, lid in with_response)
                if route.route_key in apis[api].routes:
                    raise TemplateError(lid, ROUTE, f"route key {route.route_key!r} is declared twice on {api}")
                apis[api].routes[route.route_key] = route
            else:
                http_routes.append(self.http_route(lid, api, http_apis[api]))

        ordered = list(apis.values())
        for index, ws_api in enumerate(ordered):
            ws_api.path = "/ws" if index == 0 else f"/ws/{ws_api.logical_id}"
        return ordered, http_routes

    # ---- resources ---------------------------------------------------------------------

    def ws_api(self, lid: str, props: dict[str, Any]) -> WsApi:
        expression = str(self.r.wired(lid, "RouteSelectionExpression", props.get("RouteSelectionExpression", "")))
        if not SELECTION.match(expression):
            raise TemplateError(lid, API, f"RouteSelectionExpression {expression!r}: only $request.body.<field> "
                                          "expressions are emulated")
        return WsApi(logical_id=lid, api_id=api_id_for(lid), stage="", selection_expression=expression)

    def ws_route(self, lid: str, has_response: bool) -> WsRoute:
        props = self.r.properties(lid)
        route_key = str(self.r.wired(lid, "RouteKey", props.get("RouteKey", "")))
        if not route_key:
            raise TemplateError(lid, ROUTE, "RouteKey is missing")
        auth_type = str(self.r.wired(lid, "AuthorizationType", props.get("AuthorizationType", "NONE")))
        authorizer = None
        if auth_type == "CUSTOM":
            if route_key != "$connect":
                raise TemplateError(lid, ROUTE, "a WebSocket authorizer can only guard $connect")
            target = self.r.wired(lid, "AuthorizerId", props.get("AuthorizerId"))
            if not isinstance(target, str) or self.r.type_of(target) != AUTHORIZER:
                raise TemplateError(lid, ROUTE, f"AuthorizerId {target!r} does not name an {AUTHORIZER}")
            authorizer = self.authorizer(target)
        elif auth_type not in ("NONE", "AWS_IAM"):
            raise TemplateError(lid, ROUTE, f"AuthorizationType {auth_type!r} is not emulated on WebSocket APIs")
        if auth_type == "AWS_IAM":
            self.r.warnings.append(f"{lid}: AWS_IAM authorization is not checked locally")
        return WsRoute(route_key=route_key, logical_id=lid, function_id=self.target(lid, props),
                       authorization_type=auth_type, authorizer=authorizer, has_route_response=has_response)

    def http_route(self, lid: str, api: str, stage: str) -> HttpRoute:
        from .template import check_route

        props = self.r.properties(lid)
        route_key = str(self.r.wired(lid, "RouteKey", props.get("RouteKey", "")))
        function_id = self.target(lid, props)
        if function_id is None:
            raise TemplateError(lid, ROUTE, "an HTTP API route needs a Target integration")
        if route_key == "$default":
            method, path = "ANY", None
        else:
            method, _, path = route_key.partition(" ")
            check_route(lid, ROUTE, method, path)
        timeout = self.r.properties(self._integration_id(lid, props)).get("TimeoutInMillis")
        return HttpRoute(route_key=route_key, method=method, path=path, function_id=function_id,
                         api_logical_id=api, api_id=api_id_for(api), stage=stage,
                         timeout_s=int(timeout) / 1000 if timeout else None)

    def _integration_id(self, lid: str, props: dict[str, Any]) -> str:
        target = str(self.r.wired(lid, "Target", props.get("Target")))
        match = _TARGET.match(target)
        if not match or self.r.type_of(match.group(1)) != INTEGRATION:
            raise TemplateError(lid, ROUTE, f"Target {target!r} is not integrations/<an {INTEGRATION}>")
        return match.group(1)

    def target(self, lid: str, props: dict[str, Any]) -> str | None:
        if props.get("Target") is None:
            return None
        integration = self._integration_id(lid, props)
        iprops = self.r.properties(integration)
        kind = str(self.r.wired(integration, "IntegrationType", iprops.get("IntegrationType", "")))
        if kind != "AWS_PROXY":
            raise TemplateError(integration, INTEGRATION,
                                f"IntegrationType {kind!r}: only AWS_PROXY (Lambda) is emulated")
        if self._is_http(integration) and str(iprops.get("PayloadFormatVersion", "2.0")) != "2.0":
            raise TemplateError(integration, INTEGRATION, "only payload format 2.0 is emulated on HTTP APIs")
        return self.function_from_uri(integration, INTEGRATION, "IntegrationUri", iprops.get("IntegrationUri"))

    def _is_http(self, integration: str) -> bool:
        api = self.api_of(integration)
        return str(self.r.properties(api).get("ProtocolType")) == "HTTP"

    def authorizer(self, lid: str) -> Authorizer:
        props = self.r.properties(lid)
        kind = str(self.r.wired(lid, "AuthorizerType", props.get("AuthorizerType", "")))
        if kind != "REQUEST":
            raise TemplateError(lid, AUTHORIZER,
                                f"AuthorizerType {kind!r}: only Lambda REQUEST authorizers are emulated")
        sources = self.r.wired(lid, "IdentitySource", props.get("IdentitySource") or [])
        if isinstance(sources, str):
            sources = [s.strip() for s in sources.split(",") if s.strip()]
        for source in sources:
            if not source.startswith(("route.request.querystring.", "route.request.header.")):
                raise TemplateError(lid, AUTHORIZER, f"IdentitySource {source!r} is not emulated "
                                                     "(route.request.querystring.X or route.request.header.X)")
        function_id = self.function_from_uri(lid, AUTHORIZER, "AuthorizerUri", props.get("AuthorizerUri"))
        return Authorizer(logical_id=lid, function_id=function_id, identity_sources=tuple(sources))

    def function_from_uri(self, lid: str, kind: str, prop: str, value: Any) -> str:
        uri = self.r.wired(lid, prop, value)
        match = _FUNCTION_IN_ARN.search(str(uri))
        name = match.group(1) if match else None
        function_id = name if name in self.functions else self.by_name.get(name or "")
        if function_id is None:
            raise TemplateError(lid, kind,
                                f"{prop} {uri!r} does not name an AWS::Serverless::Function of this template")
        return function_id

"""Read template.yaml into a `GatewaySpec`: the SAM functions (Globals merged, environment
resolved, layers), their `HttpApi` events, and the `AWS::ApiGatewayV2` resources
(apigwv2.py). Resources the emulator has no part in (databases, buckets, roles) are
ignored; a resource it needs but cannot serve raises `TemplateError` naming it."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from . import apigwv2, cfn
from .spec import ACCOUNT_ID, FunctionSpec, GatewaySpec, HttpRoute, TemplateError, api_id_for

SAM_FUNCTION = "AWS::Serverless::Function"
SAM_HTTP_API = "AWS::Serverless::HttpApi"
SAM_LAYER = "AWS::Serverless::LayerVersion"
IMPLICIT_HTTP_API = "ServerlessHttpApi"  # what SAM names the API of events without ApiId
_METHODS = {"ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_PARAM = re.compile(r"^\{[A-Za-z0-9_.-]+\+?\}$")


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def load_template(path: str | Path, parameter_overrides: dict[str, Any] | None = None,
                  region: str | None = None) -> GatewaySpec:
    path = Path(path).resolve()
    try:
        template = cfn.load(path.read_text())
    except FileNotFoundError:
        raise TemplateError(str(path), "", "no such template file") from None
    except Exception as exc:  # noqa: BLE001 - YAML syntax errors carry the line number
        raise TemplateError(str(path), "", f"not a readable template: {exc}") from None
    return TemplateReader(template, path, parameter_overrides or {}, region or default_region()).read()


class TemplateReader:
    def __init__(self, template: dict[str, Any], path: Path, parameters: dict[str, Any], region: str) -> None:
        self.template, self.path, self.region = template, path, region
        self.base_dir = path.parent
        self.resources: dict[str, Any] = template.get("Resources") or {}
        if not isinstance(self.resources, dict) or not self.resources:
            raise TemplateError(str(path), "", "the template has no Resources")
        self.warnings: list[str] = []
        pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws",
                  "AWS::StackName": "omnichat-local", "AWS::URLSuffix": "amazonaws.com",
                  "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/omnichat-local/local",
                  "AWS::NotificationARNs": []}
        # Values (environment variables): a deployed resource's id is unknowable here.
        self.values = cfn.Resolver(template, parameters, pseudo)
        # Wiring: Ref names the logical id, GetAtt Function.Arn a local ARN naming it.
        self.wiring = cfn.Resolver(template, parameters, pseudo, ref=lambda name: name, get_att=self._wiring_att)

    def _wiring_att(self, resource: str, attribute: str) -> str:
        if self.type_of(resource) == SAM_FUNCTION:
            arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{resource}"
            if attribute == "Arn":
                return arn
            alias = self.properties(resource).get("AutoPublishAlias")
            if attribute == "Alias" and isinstance(alias, str):  # SAM's `${Function.Alias}`
                return f"{arn}:{alias}"
        raise cfn.Unresolvable(f"Fn::GetAtt {resource}.{attribute}")

    def type_of(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        return str(resource.get("Type", "")) if isinstance(resource, dict) else ""

    def properties(self, logical_id: str) -> dict[str, Any]:
        props = self.resources[logical_id].get("Properties") or {}
        if not isinstance(props, dict):
            raise TemplateError(logical_id, self.type_of(logical_id), "Properties is not a mapping")
        return props

    def wired(self, logical_id: str, name: str, value: Any) -> Any:
        """A property that links resources, resolved; unresolvable is an error."""
        try:
            return self.wiring.resolve(value)
        except (cfn.Unresolvable, TypeError, ValueError, IndexError) as exc:
            raise TemplateError(logical_id, self.type_of(logical_id), f"cannot resolve {name}: {exc}") from None

    def is_active(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        if not condition:
            return True
        try:
            return self.wiring.condition(condition)
        except cfn.Unresolvable:
            return True

    # ---- the whole template ------------------------------------------------------------

    def read(self) -> GatewaySpec:
        for logical_id, resource in self.resources.items():
            if not isinstance(resource, dict) or "Type" not in resource:
                raise TemplateError(logical_id, "", "a resource needs a Type")
        functions = {lid: self.function(lid) for lid in self.resources
                     if self.type_of(lid) == SAM_FUNCTION and self.is_active(lid)}
        http_routes = [route for lid in functions for route in self.http_events(lid)]
        ws_apis, v2_http_routes = apigwv2.read(self, functions)
        spec = GatewaySpec(template_path=self.path, region=self.region, functions=functions,
                           http_routes=http_routes + v2_http_routes, ws_apis=ws_apis, warnings=self.warnings)
        self.check_routed_functions(spec)
        return spec

    def check_routed_functions(self, spec: GatewaySpec) -> None:
        routed = {r.function_id for r in spec.http_routes}
        for api in spec.ws_apis:
            for route in api.routes.values():
                routed.update(x for x in (route.function_id, route.authorizer and route.authorizer.function_id) if x)
        for function_id in sorted(routed):
            fn = spec.functions[function_id]
            if not fn.runtime.startswith("python"):
                raise TemplateError(function_id, SAM_FUNCTION,
                                    f"runtime {fn.runtime!r}: the emulator runs Python functions only")
            if not fn.module_file.is_file():
                raise TemplateError(function_id, SAM_FUNCTION, f"no handler module at {fn.module_file}")

    # ---- functions ---------------------------------------------------------------------

    def merged_function_properties(self, logical_id: str) -> dict[str, Any]:
        """Globals.Function merged in as SAM does: maps merge, lists append, scalars override."""
        merged = copy.deepcopy(((self.template.get("Globals") or {}).get("Function")) or {})
        for key, value in self.properties(logical_id).items():
            merged[key] = _merge(merged.get(key), value)
        return merged

    def function(self, logical_id: str) -> FunctionSpec:
        props = self.merged_function_properties(logical_id)
        kind = SAM_FUNCTION

        if props.get("PackageType") == "Image":
            raise TemplateError(logical_id, kind, "container image functions are not emulated")
        code_uri = self.wired(logical_id, "CodeUri", props.get("CodeUri"))
        if not isinstance(code_uri, str):
            raise TemplateError(logical_id, kind, "CodeUri must be a local folder (InlineCode and S3 are not emulated)")
        handler = str(self.wired(logical_id, "Handler", props.get("Handler", "")))
        environment, unresolved = self.environment(logical_id, props)
        web_adapter = (handler.endswith(".sh") or "AWS_LWA_INVOKE_MODE" in environment
                       or environment.get("AWS_LAMBDA_EXEC_WRAPPER") == "/opt/bootstrap")
        if not web_adapter and (handler.count(".") < 1 or handler.startswith(".")):
            raise TemplateError(logical_id, kind, f"Handler {handler!r} is not module.function")
        name = logical_id
        if props.get("FunctionName") is not None:
            try:
                name = cfn.as_string(self.values.resolve(props["FunctionName"]))
            except cfn.Unresolvable:
                pass
        return FunctionSpec(
            logical_id=logical_id, name=name, code_dir=(self.base_dir / code_uri).resolve(), handler=handler,
            runtime=str(self.wired(logical_id, "Runtime", props.get("Runtime", "python3.11"))),
            timeout_s=int(self.wired(logical_id, "Timeout", props.get("Timeout", 3))),
            memory_mb=int(self.wired(logical_id, "MemorySize", props.get("MemorySize", 128))),
            environment=environment, unresolved_env=tuple(unresolved),
            layer_dirs=tuple(self.layers(logical_id, props.get("Layers") or [], web_adapter)),
            web_adapter=web_adapter, region=self.region)

    def environment(self, logical_id: str, props: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        variables = ((props.get("Environment") or {}).get("Variables")) or {}
        env: dict[str, str] = {}
        unresolved: list[str] = []
        for key, raw in variables.items():
            try:
                value = self.values.resolve(raw)
                if value is cfn.NO_VALUE:
                    continue
                env[str(key)] = cfn.as_string(value)
            except (cfn.Unresolvable, TypeError, ValueError, IndexError):
                unresolved.append(str(key))
        return env, unresolved

    def layers(self, logical_id: str, layers: list[Any], web_adapter: bool) -> list[Path]:
        out: list[Path] = []
        for entry in layers:
            target = self.wired(logical_id, "Layers", entry)
            if web_adapter and "LambdaAdapterLayer" in str(target):
                continue  # the emulator plays the Lambda Web Adapter itself
            if not isinstance(target, str) or self.type_of(target) != SAM_LAYER:
                self.warnings.append(
                    f"{logical_id}: layer {target!r} is not a local AWS::Serverless::LayerVersion; skipped")
                continue
            content = self.wired(target, "ContentUri", self.properties(target).get("ContentUri"))
            if not isinstance(content, str):
                raise TemplateError(target, SAM_LAYER, "ContentUri must be a local folder")
            folder = (self.base_dir / content).resolve()
            out.append(folder / "python" if (folder / "python").is_dir() else folder)
        return out

    # ---- SAM HttpApi events ------------------------------------------------------------

    def http_events(self, function_id: str) -> list[HttpRoute]:
        routes = []
        events = self.properties(function_id).get("Events") or {}
        for event_name, event in events.items():
            kind = (event or {}).get("Type")
            if kind == "Api":
                self.warnings.append(f"{function_id}.{event_name}: REST API (Type: Api) events are not emulated")
            if kind != "HttpApi":
                continue
            props = self.wired(function_id, f"Events.{event_name}", event.get("Properties") or {})
            routes.append(self.http_route(function_id, event_name, props))
        return routes

    def http_route(self, function_id: str, event_name: str, props: dict[str, Any]) -> HttpRoute:
        where = f"Events.{event_name}"
        api = props.get("ApiId", IMPLICIT_HTTP_API)
        if api != IMPLICIT_HTTP_API and self.type_of(str(api)) not in (SAM_HTTP_API,):
            raise TemplateError(function_id, SAM_FUNCTION, f"{where}: ApiId {api!r} is not an AWS::Serverless::HttpApi")
        if str(props.get("PayloadFormatVersion", "2.0")) != "2.0":
            raise TemplateError(function_id, SAM_FUNCTION, f"{where}: only payload format 2.0 is emulated")
        stage = "$default"
        if api != IMPLICIT_HTTP_API:
            stage = str(self.wired(str(api), "StageName", self.properties(str(api)).get("StageName", "$default")))
        timeout = props.get("TimeoutInMillis")
        path, method = props.get("Path"), str(props.get("Method", "ANY")).upper()
        if path is None:
            route_key, method = "$default", "ANY"
        else:
            check_route(function_id, SAM_FUNCTION, method, str(path))
            route_key = f"{method} {path}"
        return HttpRoute(route_key=route_key, method=method, path=path, function_id=function_id,
                         api_logical_id=str(api), api_id=api_id_for(str(api)), stage=stage,
                         timeout_s=int(timeout) / 1000 if timeout else None)


def check_route(logical_id: str, kind: str, method: str, path: str) -> None:
    if method not in _METHODS:
        raise TemplateError(logical_id, kind, f"route method {method!r} is not an HTTP method or ANY")
    segments = path.split("/")
    valid = path.startswith("/") and all(
        ("{" not in s and "}" not in s) or (_PARAM.match(s) and ("+}" not in s or i == len(segments) - 1))
        for i, s in enumerate(segments))
    if not valid:
        raise TemplateError(logical_id, kind, f"route path {path!r} is not a valid HTTP API path")


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value)
        return out
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override

"""Reading templates: CloudFormation's short-form tags and intrinsics, what the fixture
template turns into, and templates the emulator cannot serve failing with an error that
names the resource (in-process and from the command line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.gateway import TemplateError, cfn, load_template

from .conftest import FIXTURES, TEMPLATE

REPO = Path(__file__).resolve().parents[2]


def test_short_form_tags_load_as_the_long_form() -> None:
    doc = cfn.load("""
a: !Ref Thing
b: !GetAtt Db.Endpoint.Address
c: !Sub "x-${AWS::Region}"
d: !Join [",", [!Ref P, b]]
e: !If [Cond, "on", "off"]
f: !Select [1, !Split [",", "x,y,z"]]
""")
    assert doc["a"] == {"Ref": "Thing"}
    assert doc["b"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    assert doc["c"] == {"Fn::Sub": "x-${AWS::Region}"}
    assert doc["d"] == {"Fn::Join": [",", [{"Ref": "P"}, "b"]]}
    assert doc["e"] == {"Fn::If": ["Cond", "on", "off"]}
    assert doc["f"] == {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}


def test_intrinsics_resolve_what_is_knowable_locally() -> None:
    template = cfn.load("""
Parameters:
  Env: {Type: String, Default: dev}
  Secret: {Type: String}
Mappings:
  Sizes: {dev: {memory: 256}}
Conditions:
  IsDev: !Equals [!Ref Env, dev]
  NotDev: !Not [!Condition IsDev]
Resources:
  Db: {Type: AWS::RDS::DBInstance}
""")
    r = cfn.Resolver(template, {}, {"AWS::Region": "eu-west-1"})
    assert r.resolve({"Fn::Sub": "${Env}-${AWS::Region}-${!Literal}"}) == "dev-eu-west-1-${Literal}"
    assert r.resolve({"Fn::Sub": ["${A}/${Env}", {"A": "x"}]}) == "x/dev"
    assert r.resolve({"Fn::If": ["NotDev", "p", "d"]}) == "d"
    assert r.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "memory"]}) == 256
    assert r.resolve({"Fn::Select": [2, {"Fn::Split": [",", "x,y,z"]}]}) == "z"
    assert r.resolve({"k": {"Ref": "AWS::NoValue"}, "j": 1}) == {"j": 1}
    assert cfn.Resolver(template, {"Secret": "s3cr3t"}, {}).resolve({"Ref": "Secret"}) == "s3cr3t"
    for unknowable in ({"Ref": "Secret"}, {"Fn::GetAtt": ["Db", "Endpoint.Address"]}, {"Ref": "Db"},
                       {"Fn::ImportValue": "shared-vpc"}):
        with pytest.raises(cfn.Unresolvable):
            r.resolve(unknowable)


def test_the_fixture_template() -> None:
    spec = load_template(TEMPLATE)
    assert set(spec.functions) == {"HttpFunction", "LwaFunction", "WsAuthorizerFunction", "WsFunction"}
    http = spec.functions["HttpFunction"]
    assert (http.timeout_s, http.memory_mb, http.runtime, http.handler) == (5, 256, "python3.11", "app.handler")
    assert http.layer_dirs == (FIXTURES / "layers" / "common",)
    assert http.environment["FIXTURE_OWN"] == "from-function" and http.environment["FIXTURE_GLOBAL"] == "from-globals"
    assert set(http.unresolved_env) == {"FIXTURE_DB_HOST", "FIXTURE_SECRET"}
    assert spec.functions["LwaFunction"].web_adapter and not http.web_adapter
    assert {r.route_key for r in spec.http_routes} == {"ANY /api/{proxy+}", "GET /api/items/{id}",
                                                       "ANY /debug/{proxy+}", "ANY /v1/{proxy+}"}
    (api,) = spec.ws_apis
    assert (api.stage, api.path, api.selection_expression) == ("test", "/ws", "$request.body.action")
    assert set(api.routes) == {"$connect", "$disconnect", "$default", "echo", "boom", "slow", "answer"}
    connect = api.routes["$connect"]
    assert connect.authorizer is not None and connect.authorizer.function_id == "WsAuthorizerFunction"
    assert connect.authorizer.identity_sources == ("route.request.querystring.ticket",)
    assert api.routes["$disconnect"].function_id == "WsFunction"  # through the Fn::Join integration
    assert api.routes["slow"].has_route_response and not api.routes["echo"].has_route_response


def test_parameter_overrides_change_the_stage() -> None:
    spec = load_template(TEMPLATE, parameter_overrides={"StageName": "prod"})
    assert spec.ws_apis[0].stage == "prod" and spec.functions["HttpFunction"].environment["FIXTURE_IS_TEST"] == "no"


def broken(tmp_path: Path, resources: str) -> Path:
    """The fixture template plus `resources` (YAML under Resources:)."""
    text = TEMPLATE.read_text().replace("\nOutputs:", resources + "\nOutputs:")
    path = FIXTURES / f".broken-{os.getpid()}-{tmp_path.name}.yaml"  # relative CodeUris must resolve
    path.write_text(text)
    return path


def http_function(name: str, code_uri: str, path: str, handler: str = "app.handler", runtime: str = "") -> str:
    """A function behind one HTTP API route (GET `path`), as YAML under Resources:."""
    runtime_line = f"\n      Runtime: {runtime}" if runtime else ""
    return f"""
  {name}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code_uri}
      Handler: {handler}{runtime_line}
      Events:
        Api:
          Type: HttpApi
          Properties: {{ApiId: !Ref HttpApi, Path: {path}, Method: GET}}
"""


def ws_route(name: str, api: str, route_key: str, **properties: str) -> str:
    """A WebSocket API route with more `properties`, as YAML under Resources:."""
    more = "".join(f"\n      {key}: {value}" for key, value in properties.items())
    return f"""
  {name}:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref {api}
      RouteKey: {route_key}{more}
"""


BROKEN = {
    "MissingIntegration": (ws_route("MissingIntegration", "WsApi", "chat.send",
                                    Target="integrations/NoSuchIntegration"),
                           "Target 'integrations/NoSuchIntegration'"),
    "MockIntegration": ("""
  MockIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref WsApi
      IntegrationType: MOCK""" + ws_route("MockRoute", "WsApi", "mock", Target="!Sub integrations/${MockIntegration}"),
                        "IntegrationType 'MOCK'"),
    "NodeFunction": (http_function("NodeFunction", "functions/http", "/node", "index.handler", "nodejs20.x"),
                     "runtime 'nodejs20.x'"),
    "NoHandlerModule": (http_function("NoHandlerModule", "functions/does-not-exist", "/missing"),
                        "no handler module"),
    "GreedyInTheMiddle": (http_function("GreedyInTheMiddle", "functions/http", '"/a/{rest+}/b"'),
                          "not a valid HTTP API path"),
    "JwtAuthorizer": ("""
  JwtAuthorizer:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref WsApi
      AuthorizerType: JWT
  JwtApi:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.action""" + ws_route(
        "JwtConnect", "JwtApi", "$connect", AuthorizationType="CUSTOM", AuthorizerId="!Ref JwtAuthorizer"),
                      "AuthorizerType 'JWT'"),
    "HeaderSelection": ("""
  HeaderSelection:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.header.x-route
""", "RouteSelectionExpression"),
}


@pytest.mark.parametrize("resource", sorted(BROKEN))
def test_a_template_it_cannot_serve_names_the_resource(tmp_path: Path, resource: str) -> None:
    snippet, problem = BROKEN[resource]
    path = broken(tmp_path, snippet)
    try:
        with pytest.raises(TemplateError) as error:
            load_template(path)
    finally:
        path.unlink()
    culprit = {"MockIntegration": "MockIntegration", "JwtAuthorizer": "JwtAuthorizer"}.get(resource, resource)
    assert error.value.logical_id == culprit and problem in str(error.value)
    assert str(error.value).startswith(f"resource {culprit} (")


def test_unreadable_templates_are_clear_errors(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("Resources:\n  A: [unclosed\n")
    with pytest.raises(TemplateError, match="not a readable template"):
        load_template(bad_yaml)
    with pytest.raises(TemplateError, match="no such template file"):
        load_template(tmp_path / "missing.yaml")


def test_the_command_line_reports_the_resource_and_exits_2(tmp_path: Path) -> None:
    path = broken(tmp_path, BROKEN["MissingIntegration"][0])
    try:
        done = subprocess.run([sys.executable, "-m", "local.gateway", "--template", str(path), "--port", "0"],
                              check=False, cwd=REPO, capture_output=True, text=True, timeout=30)
    finally:
        path.unlink()
    assert done.returncode == 2
    assert "resource MissingIntegration (AWS::ApiGatewayV2::Route)" in done.stderr
    assert "integrations/NoSuchIntegration" in done.stderr

"""template.yaml keeps the contract other parts of OmniChat are written against: the
Globals every handler reads, the function names and folders, the HTTP routes, and the
WebSocket API in the exact shapes the local emulator parses."""

from __future__ import annotations

import re
from typing import Any

from omnichat.config import Settings

from .cfn import invoked_function, sub_text
from .conftest import ROOT

FUNCTIONS = {
    "ApiFunction": "functions/api",
    "GatewayFunction": "functions/gateway",
    "GatewayApiFunction": "functions/gateway",
    "WsAuthorizerFunction": "functions/authorizer",
    "WsConnectFunction": "functions/ws_connect",
    "WsDisconnectFunction": "functions/ws_disconnect",
    "WsChatFunction": "functions/ws_chat",
    "MigrateFunction": "functions/migrate",
    "IndexerFunction": "functions/indexer",
}
ENV_NAMES = {
    "OMNICHAT_ENV", "OMNICHAT_DB_SECRET_ARN", "OMNICHAT_DB_HOST", "OMNICHAT_DB_NAME", "OMNICHAT_JWT_SECRET_ARN",
    "OLLAMA_HOST", "OMNICHAT_OLLAMA_DISCOVERY", "OMNICHAT_OLLAMA_ENABLED", "OMNICHAT_BEDROCK_ENABLED",
    "OMNICHAT_WS_ENDPOINT", "OMNICHAT_FILES_BUCKET", "OMNICHAT_INDEX_QUEUE_URL", "OMNICHAT_EMBED_MODEL",
    "POWERTOOLS_SERVICE_NAME", "LOG_LEVEL",
}
WS_CHAT_ROUTES = {"$default", "ping", "chat.send", "chat.stop", "chat.regenerate", "chat.edit", "chat.resume",
                  "model.pull"}
API_GATEWAY_INTEGRATION_TIMEOUT_S = 29  # how long API Gateway waits for a synchronous function
LAMBDA_MAX_TIMEOUT_S = 900  # Lambda's maximum
LAMBDA_URI = "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${%s.Arn}/invocations"


def test_globals_give_every_function_the_shared_runtime_layer_and_network(template: dict[str, Any]) -> None:
    g = template["Globals"]["Function"]
    assert g["Runtime"] == "python3.12"
    assert g["Architectures"] in (["arm64"], ["x86_64"])
    assert g["Handler"] == "app.handler"
    assert g["Layers"] == [{"Ref": "OmniChatLayer"}]
    # A synchronous function has nothing to gain from running past the moment API Gateway
    # stops waiting for it, and the longest synchronous work (an import) fits inside.
    assert g["Timeout"] <= API_GATEWAY_INTEGRATION_TIMEOUT_S
    assert Settings().import_budget_s < g["Timeout"]
    assert g["VpcConfig"] == {"SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
                              "SecurityGroupIds": [{"Ref": "LambdaSecurityGroup"}]}


def test_globals_environment_is_exactly_the_contract(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(env) == ENV_NAMES
    assert env["OMNICHAT_ENV"] == "aws"
    assert env["POWERTOOLS_SERVICE_NAME"] == "omnichat"
    assert env["OMNICHAT_DB_SECRET_ARN"] == {"Ref": "DbSecret"}
    assert env["OMNICHAT_JWT_SECRET_ARN"] == {"Ref": "JwtSecret"}
    assert env["OMNICHAT_DB_HOST"] == {"Fn::GetAtt": ["DbProxy", "Endpoint"]}
    assert env["OMNICHAT_OLLAMA_ENABLED"] == {"Ref": "EnableOllama"}
    assert env["OMNICHAT_BEDROCK_ENABLED"] == {"Ref": "EnableBedrock"}
    assert sub_text(env["OMNICHAT_WS_ENDPOINT"]) == \
        "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
    assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert env["OMNICHAT_FILES_BUCKET"] == {"Ref": "FilesBucket"}
    assert env["OMNICHAT_INDEX_QUEUE_URL"] == {"Ref": "IndexQueue"}
    assert env["OMNICHAT_EMBED_MODEL"] == {"Ref": "EmbedModel"}


def test_ollama_host_is_the_cloud_map_name_of_the_ollama_service(template: dict[str, Any],
                                                                 resources: dict[str, Any]) -> None:
    constants = template["Mappings"]["Constants"]["Ollama"]
    namespace = resources["OllamaNamespace"]["Properties"]["Name"]
    service = resources["OllamaDiscoveryService"]["Properties"]["Name"]
    assert namespace == {"Fn::FindInMap": ["Constants", "Ollama", "Namespace"]}
    assert constants["Url"] == f"http://{service}.{constants['Namespace']}:11434"
    assert template["Globals"]["Function"]["Environment"]["Variables"]["OLLAMA_HOST"] == \
        {"Fn::FindInMap": ["Constants", "Ollama", "Url"]}
    # Every healthy task is a node: the name's A records (MULTIVALUE), read by the router.
    assert template["Globals"]["Function"]["Environment"]["Variables"]["OMNICHAT_OLLAMA_DISCOVERY"] == "dns"


def test_the_core_layer_is_built_from_layers_omnichat_for_python312(resources: dict[str, Any]) -> None:
    layer = resources["OmniChatLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/omnichat"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    # Built by its Makefile (so it ships bytecode): for the runtime's Python and the
    # functions' architecture.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "layers/omnichat/Makefile").read_text()
    assert "build-OmniChatLayer:" in makefile and "PYTHON ?= python3.12" in makefile
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[layer["Properties"]["CompatibleArchitectures"][0]]
    platforms = re.search(r"^PLATFORMS \?= (.*)$", makefile, re.M)
    assert platforms and all(p.endswith(machine) for p in re.findall(r"--platform (\S+)", platforms.group(1)))


def test_functions_and_their_folders(functions: dict[str, Any]) -> None:
    assert {name: f["Properties"]["CodeUri"] for name, f in functions.items()} == FUNCTIONS


def test_ws_chat_outlives_the_integration_timeout(template: dict[str, Any], functions: dict[str, Any]) -> None:
    """An answer streams past API Gateway's integration timeout, and a model that goes
    silent for as long as the settings allow (connect + read timeout) is still reported as a
    timeout by the relay (which stops DEADLINE_MARGIN_S before the function's end)."""
    from omnichat.ws.lambda_events import DEADLINE_MARGIN_S

    timeout = functions["WsChatFunction"]["Properties"]["Timeout"]
    s = Settings()
    assert API_GATEWAY_INTEGRATION_TIMEOUT_S < timeout <= LAMBDA_MAX_TIMEOUT_S
    assert s.provider_connect_timeout_s + s.provider_read_timeout_s < timeout - DEADLINE_MARGIN_S
    # Streaming (decode, coalesce, post) gets more CPU than the request/response functions.
    assert functions["WsChatFunction"]["Properties"]["MemorySize"] > template["Globals"]["Function"]["MemorySize"]


def test_gateway_streams_through_lambda_web_adapter(template: dict[str, Any], functions: dict[str, Any]) -> None:
    gw = functions["GatewayFunction"]["Properties"]
    assert gw["Handler"] == "run.sh"
    assert gw["Environment"]["Variables"] == {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                                              "AWS_LWA_INVOKE_MODE": "response_stream", "PORT": "8000"}
    assert gw["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert gw["FunctionUrlConfig"]["InvokeMode"] == "RESPONSE_STREAM"
    # The adapter layer: a parameter, defaulting to AWS's public layer for the function's
    # architecture in the deploying region.
    (choice,) = gw["Layers"]
    condition, default, given = choice["Fn::If"]
    assert condition == "UseDefaultWebAdapter" and given == {"Ref": "LambdaWebAdapterLayerArn"}
    arch = template["Globals"]["Function"]["Architectures"][0]
    adapter = template["Mappings"]["Constants"]["WebAdapter"]
    assert adapter["Layer"] == {"arm64": "LambdaAdapterLayerArm64", "x86_64": "LambdaAdapterLayerX86"}[arch]
    assert "${AWS::Region}" in default["Fn::Sub"][0]


def test_http_routes(functions: dict[str, Any]) -> None:
    routes = {}
    for name, f in functions.items():
        for event in f["Properties"].get("Events", {}).values():
            if name == "IndexerFunction":  # fed by the index queue and its schedule, no route
                assert event["Type"] in ("SQS", "Schedule"), name
                continue
            assert event["Type"] == "HttpApi", name
            p = event["Properties"]
            assert p["ApiId"] == {"Ref": "HttpApi"}
            routes[f"{p['Method']} {p['Path']}"] = name
    assert routes == {"ANY /api/{proxy+}": "ApiFunction", "ANY /v1/{proxy+}": "GatewayApiFunction"}


def test_the_http_api_gets_the_gateway_buffered(functions: dict[str, Any]) -> None:
    """An HTTP API cannot consume a streamed response: its /v1 function buffers, and only
    the Function URL streams."""
    api = functions["GatewayApiFunction"]["Properties"]
    assert api["Handler"] == "run.sh" and api["CodeUri"] == functions["GatewayFunction"]["Properties"]["CodeUri"]
    assert api["Environment"]["Variables"]["AWS_LWA_INVOKE_MODE"] == "buffered"
    assert "FunctionUrlConfig" not in api and "Events" not in functions["GatewayFunction"]["Properties"]


def test_http_api_and_functions_come_before_any_websocket_resource(resources: dict[str, Any]) -> None:
    """SAM CLI picks its route parser from the first API-like resource (aws-sam-cli #2610)."""
    order = list(resources)
    first_ws = min(i for i, name in enumerate(order) if resources[name]["Type"].startswith("AWS::ApiGatewayV2::"))
    sam_api_like = [i for i, name in enumerate(order)
                    if resources[name]["Type"] in ("AWS::Serverless::HttpApi", "AWS::Serverless::Function")]
    assert order.index("HttpApi") < first_ws
    assert max(sam_api_like) < first_ws


def test_websocket_api_authorizer_and_integrations(resources: dict[str, Any]) -> None:
    api = resources["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET" and api["RouteSelectionExpression"] == "$request.body.action"
    auth = resources["WsAuthorizer"]["Properties"]
    assert auth["AuthorizerType"] == "REQUEST"
    assert auth["IdentitySource"] == ["route.request.querystring.ticket"]
    assert sub_text(auth["AuthorizerUri"]) == LAMBDA_URI % "WsAuthorizerFunction"
    for integration, function in (("WsConnectIntegration", "WsConnectFunction"),
                                  ("WsDisconnectIntegration", "WsDisconnectFunction"),
                                  ("WsChatIntegration", "WsChatFunction.Alias")):  # SnapStart: the alias
        p = resources[integration]["Properties"]
        assert p["IntegrationType"] == "AWS_PROXY" and p["ApiId"] == {"Ref": "WebSocketApi"}
        assert invoked_function(p["IntegrationUri"]) == function


def test_websocket_routes(resources: dict[str, Any]) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in resources.values()
              if r["Type"] == "AWS::ApiGatewayV2::Route"}
    targets = {key: sub_text(p["Target"]) for key, p in routes.items()}
    assert targets == {"$connect": "integrations/${WsConnectIntegration}",
                       "$disconnect": "integrations/${WsDisconnectIntegration}",
                       **{key: "integrations/${WsChatIntegration}" for key in WS_CHAT_ROUTES}}
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": "WsAuthorizer"}
    assert all("AuthorizerId" not in p for key, p in routes.items() if key != "$connect")


def test_websocket_stage_is_throttled_logged_and_deployed(resources: dict[str, Any]) -> None:
    stage = resources["WebSocketStage"]["Properties"]
    assert stage["StageName"] == {"Ref": "Stage"} and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurst"}
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["WebSocketAccessLogs", "Arn"]}
    routes = {n for n, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert routes <= set(resources["WebSocketStage"]["DependsOn"])  # deployed with every route


def test_api_gateway_may_invoke_each_websocket_function(resources: dict[str, Any]) -> None:
    allowed = {r["Properties"]["FunctionName"]["Ref"] for r in resources.values()
               if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "apigateway.amazonaws.com"}
    # The chat function is invoked through its alias: the permission must name the alias.
    assert allowed == {"WsAuthorizerFunction", "WsConnectFunction", "WsDisconnectFunction", "WsChatFunction.Alias"}


def test_snapstart_is_a_parameter_for_the_heavy_functions(template: dict[str, Any],
                                                          functions: dict[str, Any]) -> None:
    """SnapStart runs published versions only: each function that may use it publishes the
    `live` alias, and whatever invokes it (SAM's HttpApi event, the WebSocket integration)
    invokes the alias. Off by default: the snapshot cache is billed."""
    parameter = template["Parameters"]["SnapStart"]
    assert parameter["AllowedValues"] == ["Enabled", "Disabled"] and parameter["Default"] == "Disabled"
    assert template["Conditions"]["SnapStartEnabled"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "Enabled"]}
    snapped = {name for name, f in functions.items() if "SnapStart" in f["Properties"]}
    assert snapped == {"ApiFunction", "WsChatFunction"}
    for name in snapped:
        p = functions[name]["Properties"]
        assert p["AutoPublishAlias"] == "live"
        assert p["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartEnabled", "PublishedVersions", "None"]}}


def test_http_api_cors_throttling_and_access_logs(resources: dict[str, Any]) -> None:
    p = resources["HttpApi"]["Properties"]
    assert p["CorsConfiguration"]["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert p["DefaultRouteSettings"] == {"ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
                                         "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"}}
    assert p["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}


def test_migrations_run_as_a_custom_resource_on_each_code_deploy(resources: dict[str, Any]) -> None:
    m = resources["DatabaseMigrations"]
    assert m["Type"] == "Custom::DatabaseMigrations"
    assert m["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    # A new layer version (any code change) or a new run id changes the properties, and
    # CloudFormation sends the function an Update: migrations run on that deploy.
    assert m["Properties"]["CoreLayer"] == {"Ref": "OmniChatLayer"}
    assert m["Properties"]["RunId"] == {"Ref": "MigrationsRunId"}
    assert "DbProxyTargetGroup" in m["DependsOn"]

"""A first `sam deploy` on a new account (issue 14): what the template does with each
environment's parameters, evaluated the way CloudFormation evaluates them (parameters,
Conditions, Fn::If, AWS::NoValue; omnichat.aws.stack_config, shared with the preflight)."""

from __future__ import annotations

from typing import Any

import pytest

from omnichat.aws.stack_config import evaluate, parameter_values, reserved_concurrency

from .cfn import as_list, failed_rules, resolve, statements, sub_text
from .test_samconfig import ENVIRONMENTS, overrides


def condition(template: dict[str, Any], name: str, params: dict[str, str]) -> bool:
    return bool(evaluate(template["Conditions"][name], parameter_values(template, params), template["Conditions"]))


def ollama_tasks(template: dict[str, Any], params: dict[str, str]) -> int:
    """The ECS service's desired count for this deploy (0 when the service is not created)."""
    service = template["Resources"]["OllamaService"]
    if not condition(template, service["Condition"], params):
        return 0
    return int(resolve(template, service["Properties"]["DesiredCount"], params))


# -- Blocker 3: an empty repository ------------------------------------------------------
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_environment_starts_an_ollama_task_before_an_image_is_named(template: dict[str, Any], env: str) -> None:
    """The stack creates the ECR repository empty: a task would fail CannotPullContainer and
    the circuit breaker would roll the whole first deploy back."""
    params = overrides(env)
    assert not params.get("OllamaImageTag") and not params.get("OllamaImageUri"), \
        f"{env}: a first deploy cannot name an image it has not pushed yet"
    assert ollama_tasks(template, params) == 0
    assert not condition(template, "OllamaRunning", params)  # so no running-task alarm either


def test_naming_the_pushed_image_runs_the_requested_tasks(template: dict[str, Any]) -> None:
    prod = overrides("prod")
    assert int(prod["OllamaDesiredCount"]) >= 1
    assert ollama_tasks(template, {**prod, "OllamaImageTag": "0.12.9-omnichat.1"}) == int(prod["OllamaDesiredCount"])
    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ollama:1"
    assert ollama_tasks(template, {**prod, "OllamaImageUri": uri}) == int(prod["OllamaDesiredCount"])
    assert ollama_tasks(template, {"OllamaImageTag": "t1", "OllamaDesiredCount": "0"}) == 0


def test_the_task_runs_the_named_image_and_an_unnamed_one_is_still_a_valid_reference(template: dict[str, Any]) -> None:
    (container,) = template["Resources"]["OllamaTaskDefinition"]["Properties"]["ContainerDefinitions"]

    def image(params: dict[str, str]) -> str:
        return str(resolve(template, container["Image"], params))

    assert image({"OllamaImageTag": "t1"}).endswith("/${OllamaRepository}:t1")
    assert image({}).endswith("/${OllamaRepository}")  # no dangling "repo:"
    assert image({"OllamaImageUri": "ghcr.io/acme/ollama:1"}) == "ghcr.io/acme/ollama:1"


# -- Blocker 2: the ECS service-linked role ----------------------------------------------
def test_the_ecs_service_linked_role_is_made_sure_of_before_the_cluster_and_capacity(
        template: dict[str, Any], resources: dict[str, Any]) -> None:
    for name in ("OllamaCluster", "OllamaCapacityProvider"):
        assert "EcsServiceLinkedRoleReady" in as_list(resources[name]["DependsOn"]), name
    ready = resources["EcsServiceLinkedRoleReady"]["Metadata"]["Role"]
    assert ready == {"Fn::If": ["EnsureEcsServiceLinkedRole", {"Ref": "EcsServiceLinkedRole"}, "none"]}
    role = resources["EcsServiceLinkedRole"]
    assert role["Properties"]["Task"] == "ecs-service-linked-role"
    assert role["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["AccountSetupFunction", "Arn"]}
    # Made sure of by default whenever Ollama is on; an admin-made role can opt out.
    assert condition(template, "EnsureEcsServiceLinkedRole", {})
    assert not condition(template, "EnsureEcsServiceLinkedRole", {"CreateEcsServiceLinkedRole": "false"})
    assert not condition(template, "EnsureEcsServiceLinkedRole", {"EnableOllama": "false"})
    # Not AWS::IAM::ServiceLinkedRole: it fails on every account that already has the role.
    assert all(r["Type"] != "AWS::IAM::ServiceLinkedRole" for r in resources.values())


def test_the_account_setup_function_may_create_only_the_ecs_service_linked_role(
        template: dict[str, Any], resources: dict[str, Any]) -> None:
    document = resources["AccountSetupRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    granted = [resolve(template, s, {}) for s in statements(document)]
    creates = [s for s in granted if isinstance(s, dict) and "iam:CreateServiceLinkedRole" in as_list(s["Action"])]
    (create,) = creates
    assert sub_text(create["Resource"]).endswith(":role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS")
    assert create["Condition"] == {"StringEquals": {"iam:AWSServiceName": "ecs.amazonaws.com"}}
    passes = [s for s in granted if isinstance(s, dict) and "iam:PassRole" in as_list(s["Action"])]
    assert [p["Resource"] for p in passes] == [{"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}]
    # Without Ollama the function may not create the role at all.
    off = [resolve(template, s, {"EnableOllama": "false"}) for s in statements(document)]
    assert not any(isinstance(s, dict) and "iam:CreateServiceLinkedRole" in as_list(s["Action"]) for s in off)


# -- Minor: the account-wide API Gateway CloudWatch role ---------------------------------
def test_the_api_gateway_account_setting_is_never_overwritten_or_left_dangling(resources: dict[str, Any]) -> None:
    assert all(r["Type"] != "AWS::ApiGateway::Account" for r in resources.values())
    role = resources["ApiGatewayCloudWatchRole"]
    assert role["DeletionPolicy"] == "Retain" and role["UpdateReplacePolicy"] == "Retain"
    setter = resources["ApiGatewayLoggingRole"]["Properties"]
    assert setter["Task"] == "api-gateway-logging-role"
    assert setter["RoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    assert resources["ApiGatewayLoggingReady"]["Metadata"]["Account"] == \
        {"Fn::If": ["ManageApiGatewayAccount", {"Ref": "ApiGatewayLoggingRole"}, "none"]}
    assert "ApiGatewayLoggingReady" in resources["WebSocketStage"]["DependsOn"]


# -- Major 7: custom resources cannot hang a stack ---------------------------------------
def test_every_custom_resource_has_a_service_timeout_beyond_its_functions(resources: dict[str, Any]) -> None:
    customs = {n: r for n, r in resources.items()
               if r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"}
    assert set(customs) >= {"DatabaseMigrations", "EcsServiceLinkedRole", "ApiGatewayLoggingRole"}
    for name, r in customs.items():
        function = r["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
        timeout = int(resources[function]["Properties"].get("Timeout", 3))
        service_timeout = int(r["Properties"].get("ServiceTimeout", 3600))
        assert timeout < service_timeout <= 600, f"{name}: ServiceTimeout {service_timeout}, function {timeout} s"


# -- Major 6: Lambda concurrency ---------------------------------------------------------
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_environment_reserves_concurrency_a_new_account_cannot_give(template: dict[str, Any], env: str) -> None:
    """Lambda refuses any reservation that leaves fewer than 10 unreserved executions: on a
    new account (quota 10) every reservation fails the deploy."""
    assert reserved_concurrency(template, parameter_values(template, overrides(env))) == {}


def test_chat_and_the_public_gateway_can_be_reserved_and_capped(template: dict[str, Any]) -> None:
    params = {"WsChatReservedConcurrency": "50", "GatewayReservedConcurrency": "20"}
    assert reserved_concurrency(template, parameter_values(template, params)) == \
        {"WsChatFunction": 50, "GatewayFunction": 20}
    for name in ("WsChatReservedConcurrency", "GatewayReservedConcurrency"):
        assert template["Parameters"][name]["Default"] == 0 and template["Parameters"][name]["MinValue"] == 0


# -- Major 8: the GPU AMI ----------------------------------------------------------------
def test_gpu_instances_boot_the_amazon_linux_2023_ecs_gpu_ami(template: dict[str, Any],
                                                              resources: dict[str, Any]) -> None:
    parameter = template["Parameters"]["GpuAmiId"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert parameter["Default"] == "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
    data = resources["OllamaLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == {"Ref": "GpuAmiId"}
    assert data["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"  # AL2023's root device


# -- Minors ------------------------------------------------------------------------------
def test_postgresql_names_the_major_version_only(resources: dict[str, Any]) -> None:
    version = resources["Database"]["Properties"]["EngineVersion"]
    family = resources["DbParameterGroup"]["Properties"]["Family"]
    assert version.isdigit(), f"{version}: a minor version fails new stacks once RDS retires it"
    assert family == f"postgres{version}"


def test_rds_log_groups_exist_before_the_database_and_expire(resources: dict[str, Any]) -> None:
    db = resources["Database"]
    identifier = db["Properties"]["DBInstanceIdentifier"]["Fn::Sub"]
    # Lower case and valid whatever the stack's name: RDS lower-cases identifiers, and the
    # log group names must match the instance's.
    assert identifier == ["omnichat-${StackUuid}",
                          {"StackUuid": {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}}]
    exported = db["Properties"]["EnableCloudwatchLogsExports"]
    groups = {name: r for name, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"
              and sub_text(r["Properties"].get("LogGroupName")).startswith("/aws/rds/instance/")}
    assert {sub_text(g["Properties"]["LogGroupName"]).rsplit("/", 1)[1] for g in groups.values()} == set(exported)
    for name, group in groups.items():
        text, variables = group["Properties"]["LogGroupName"]["Fn::Sub"]
        assert text == f"/aws/rds/instance/{identifier[0]}/{text.rsplit('/', 1)[1]}" and variables == identifier[1]
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert name in db["DependsOn"]  # RDS would otherwise create them, without retention


def test_no_nat_gateway_needs_egress_declared(template: dict[str, Any]) -> None:
    """Chat answers are pushed through the public @connections API: no VPC endpoint serves it."""
    base = {"NatGateways": "0", "EnableInterfaceEndpoints": "true"}
    assert failed_rules(template, base) == ["NoNatNeedsExternalEgress"]
    assert failed_rules(template, {**base, "ExternalEgress": "true"}) == []
    assert failed_rules(template, {"NatGateways": "1"}) == []


def test_behaviours_that_compress_have_a_cache_policy_that_lets_them(resources: dict[str, Any]) -> None:
    managed_with_encodings = {"658327ea-f89d-4fab-a63d-7e88639e58f6"}  # Managed-CachingOptimized
    config = resources["FrontendDistribution"]["Properties"]["DistributionConfig"]
    for behaviour in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        if not behaviour.get("Compress"):
            continue
        policy = behaviour["CachePolicyId"]
        if isinstance(policy, dict):
            config = resources[policy["Ref"]]["Properties"]["CachePolicyConfig"]
            keys = config["ParametersInCacheKeyAndForwardedToOrigin"]
            assert keys["EnableAcceptEncodingGzip"] or keys["EnableAcceptEncodingBrotli"], behaviour.get("PathPattern")
        else:
            assert policy in managed_with_encodings, behaviour.get("PathPattern")


# -- Blocker 1 and Major 5: least privilege stays -----------------------------------------
def test_no_role_gets_root_on_efs_or_marketplace_subscriptions(template: dict[str, Any],
                                                               resources: dict[str, Any]) -> None:
    """Ollama writes EFS as a non-root user (test_ollama_uid.py); third-party Bedrock models
    are subscribed to once by an admin (docs/deploy.md), never by a chat user's message."""
    documents = []
    for r in resources.values():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::IAM::ManagedPolicy":
            documents.append(p["PolicyDocument"])
        if r["Type"] == "AWS::IAM::Role":
            documents += [x["PolicyDocument"] for x in p.get("Policies", [])]
        if r["Type"] == "AWS::EFS::FileSystem":
            documents.append(p["FileSystemPolicy"])
    actions = set()
    for params in ({}, {"EnableOllama": "false"}, {"ConfigureApiGatewayAccount": "false"}):
        for document in documents:
            for s in statements(document):
                s = resolve(template, s, params)
                if isinstance(s, dict):
                    actions.update(a.lower() for a in as_list(s["Action"]))
    assert "elasticfilesystem:clientrootaccess" not in actions
    assert not any(a.startswith("aws-marketplace:") for a in actions)

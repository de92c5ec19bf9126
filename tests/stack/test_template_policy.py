"""What the stack promises beyond the contract: parameters that refuse bad values before
anything is created, least-privilege IAM, a private network, the database, the Ollama GPU
service, the frontend and the alarms."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from .cfn import as_list, failed_rules, is_constrained, statements, sub_text, violations

BAD_VALUES = {
    "Stage": ["Prod", "prod-1", "", "a" * 40],
    "EnableOllama": ["yes", "True"],
    "EnableBedrock": ["1"],
    "OllamaInstanceType": ["p5.48xlarge", "t3.micro"],
    "OllamaDesiredCount": ["-1", "9", "two"],
    "OllamaMaxCount": ["-1", "9"],  # Cloud Map's DNS answers at most 8 tasks: more would never be found
    "OllamaScalingCpuTarget": ["5", "95"],
    "OllamaModels": ["llama3 8b", "llama3: 8b", ",llama3", "llama3,,qwen", "llama3;rm -rf /"],
    "OllamaKeepAlive": ["30 minutes", "-2", "5d"],
    "OllamaNumParallel": ["0", "17"],
    "OllamaImageTag": ["-bad", "has space", ":tag"],
    "OllamaImageUri": ["ollama/ollama", "docker.io/ollama/ollama"],
    "DbInstanceClass": ["db.t3.micro", "db.x2g.16xlarge"],
    "DbAllocatedStorage": ["10", "5000"],
    "DbMultiAz": ["no"],
    "DbDeletionProtection": ["off"],
    "DbBackupRetentionDays": ["0", "36"],
    "AllowedOrigins": ["ftp://x.example", "https://a.example/path", "chat.example.com"],
    "VpcCidr": ["10.0.0.0/8", "8.8.0.0/16"],
    "NatGateways": ["3"],
    "EnableInterfaceEndpoints": ["maybe"],
    "LogLevel": ["TRACE"],
    "LogRetentionDays": ["3", "400"],
    "AlarmEmail": ["not-an-email", "a@b"],
    "ApiThrottleRate": ["0"],
    "ApiThrottleBurst": ["0", "99999"],
    "ConfigureApiGatewayAccount": ["no"],
    "CreateEcsServiceLinkedRole": ["true", "yes"],
    "ExternalEgress": ["yes"],
    "WsChatReservedConcurrency": ["-1", "1001", "ten"],
    "GatewayReservedConcurrency": ["-1", "1001"],
    "LambdaWebAdapterLayerArn": ["arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerArm64"],
    "MigrationsRunId": ["", "has space"],
}
GOOD_VALUES = {
    "OllamaModels": ["", "llama3.2:3b", "llama3.2:3b,qwen3:8b", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"],
    "OllamaKeepAlive": ["-1", "5m", "2h", "300s"],
    "AllowedOrigins": ["https://chat.example.com", "https://chat.example.com,http://localhost:5173", "*"],
    "OllamaImageTag": ["", "0.12.9-omnichat.1"],  # empty: nothing pushed yet (a first deploy)
    "OllamaImageUri": ["", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/omnichat-ollama:0.12.9-1",
                       "ghcr.io/acme/ollama@sha256:" + "a" * 64],
    "LambdaWebAdapterLayerArn": ["", "arn:aws:lambda:eu-west-1:753240598075:layer:LambdaAdapterLayerArm64:26"],
}


def test_every_parameter_is_constrained(template: dict[str, Any]) -> None:
    loose = [name for name, p in template["Parameters"].items() if not is_constrained(p)]
    assert loose == [], f"parameters CloudFormation would accept any value for: {loose}"


def test_every_default_satisfies_its_own_constraints(template: dict[str, Any]) -> None:
    for name, p in template["Parameters"].items():
        assert violations(p, str(p.get("Default", ""))) == [], name


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_parameter_values_are_refused(template: dict[str, Any], name: str) -> None:
    for value in BAD_VALUES[name]:
        assert violations(template["Parameters"][name], value), f"{name}={value!r} would be accepted"


@pytest.mark.parametrize("name", sorted(GOOD_VALUES))
def test_good_parameter_values_are_accepted(template: dict[str, Any], name: str) -> None:
    for value in GOOD_VALUES[name]:
        assert violations(template["Parameters"][name], value) == [], f"{name}={value!r}"


def test_rules_refuse_impossible_combinations(template: dict[str, Any]) -> None:
    assert failed_rules(template, {}) == []
    no_nat = {"NatGateways": "0", "ExternalEgress": "true"}
    assert failed_rules(template, {**no_nat, "EnableInterfaceEndpoints": "false"}) == ["NoNatNeedsEndpoints"]
    assert failed_rules(template, {**no_nat, "EnableInterfaceEndpoints": "true"}) == []
    assert failed_rules(template, {"EnableOllama": "false", "EnableBedrock": "false"}) == ["AtLeastOneModelProvider"]
    assert failed_rules(template, {"EnableOllama": "false", "EnableBedrock": "true"}) == []


# -- IAM ---------------------------------------------------------------------------------
def _policy_statements(resources: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return statements(resources[name]["Properties"]["PolicyDocument"])


def test_websocket_functions_may_manage_only_this_stages_connections(resources: dict[str, Any]) -> None:
    (statement,) = _policy_statements(resources, "WebSocketPushPolicy")
    assert statement["Action"] == "execute-api:ManageConnections"
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${Stage}"
    assert sorted(sub_text(r) for r in statement["Resource"]) == sorted(
        f"{prefix}/{verb}/@connections/*" for verb in ("POST", "GET", "DELETE"))


def test_bedrock_invocation_is_scoped_to_models_and_inference_profiles(resources: dict[str, Any]) -> None:
    direct, routed, listing = _policy_statements(resources, "BedrockInvokePolicy")
    for invoke in (direct, routed):
        assert sorted(invoke["Action"]) == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    assert all(":${AWS::Region}:" in sub_text(r) for r in direct["Resource"])  # direct calls: this Region only
    assert "Condition" not in direct and list(routed["Condition"]) == ["ArnLike"]
    assert sorted(listing["Action"]) == ["bedrock:ListFoundationModels", "bedrock:ListInferenceProfiles"]


def _allows(statements: list[dict[str, Any]], params: dict[str, str], resource: str,
            profile: str | None = None) -> bool:
    """Whether an Allow statement admits InvokeModel on `resource` (called through
    `profile`, if given): IAM's ARN matching, each colon-separated part on its own."""
    def sub(value: Any) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: params[m.group(1)], sub_text(value))

    def like(arn: str, pattern: str) -> bool:
        parts, wanted = arn.split(":", 5), pattern.split(":", 5)
        return len(parts) == len(wanted) == 6 and all(map(fnmatch.fnmatchcase, parts, wanted))

    for statement in statements:
        if "bedrock:InvokeModel" not in as_list(statement["Action"]):
            continue
        if not any(like(resource, sub(r)) for r in as_list(statement["Resource"])):
            continue
        condition = statement.get("Condition", {}).get("ArnLike", {}).get("bedrock:InferenceProfileArn")
        if condition is None or (profile is not None and any(like(profile, sub(c)) for c in as_list(condition))):
            return True
    return False


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_every_cross_region_profile_may_reach_its_model_in_every_region_it_routes_to(
        resources: dict[str, Any], region: str) -> None:
    from local.bedrock.catalog import ACCOUNT_ID, DEFAULT_MODELS, Catalog

    policy = _policy_statements(resources, "BedrockInvokePolicy")
    params = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": ACCOUNT_ID}
    catalog = Catalog(DEFAULT_MODELS, region)
    assert {p.geo for p in catalog.profiles} >= {"global", region.split("-")[0].replace("ap", "apac")}
    for profile in catalog.profiles:
        summary = profile.summary(region)
        arn = summary["inferenceProfileArn"]
        assert _allows(policy, params, arn), arn
        targets = [m["modelArn"] for m in summary["models"]]
        if profile.geo == "global":  # its model ARN without a Region, as AWS documents it
            targets.append(f"arn:aws:bedrock:::foundation-model/{profile.model.model_id}")
        for target in targets:
            assert _allows(policy, params, target, profile=arn), (arn, target)
            if f":{region}:" not in target:  # elsewhere only through a profile of this account
                assert not _allows(policy, params, target, profile=arn.replace(ACCOUNT_ID, "999999999999"))
    model = DEFAULT_MODELS[0].model_id
    assert _allows(policy, params, f"arn:aws:bedrock:{region}::foundation-model/{model}")  # on demand
    elsewhere = "sa-east-1"  # a model in another Region, called directly: refused
    assert not _allows(policy, params, f"arn:aws:bedrock:{elsewhere}::foundation-model/{model}")


def test_functions_read_exactly_the_two_app_secrets(resources: dict[str, Any]) -> None:
    secrets, kms = _policy_statements(resources, "ReadAppSecretsPolicy")
    assert secrets["Action"] == "secretsmanager:GetSecretValue"
    assert secrets["Resource"] == [{"Ref": "DbSecret"}, {"Ref": "JwtSecret"}]
    assert kms["Action"] == "kms:Decrypt" and "kms:ViaService" in kms["Condition"]["StringEquals"]


def test_each_function_gets_only_the_policies_it_needs(functions: dict[str, Any]) -> None:
    def names(fn: str) -> set[str]:
        found = set()
        for entry in functions[fn]["Properties"]["Policies"]:
            if "Fn::If" in entry:
                condition, then, _ = entry["Fn::If"]
                assert condition in ("BedrockEnabled", "ReadsSsoSecret", "BedrockEmbeddings")
                entry = then
            found.add(entry["Ref"])
        return found

    base, push, bedrock = "ReadAppSecretsPolicy", "WebSocketPushPolicy", "BedrockInvokePolicy"
    read, write, embed = "FilesReadPolicy", "FilesWritePolicy", "EmbedInvokePolicy"
    assert names("ApiFunction") == {base, bedrock, "ReadSsoSecretPolicy", read, write}  # it alone signs people in
    assert names("GatewayFunction") == {base, bedrock}
    assert names("GatewayApiFunction") == {base, bedrock}
    assert names("WsAuthorizerFunction") == {base}
    assert names("WsConnectFunction") == {base, push}
    assert names("WsDisconnectFunction") == {base, push}
    assert names("WsChatFunction") == {base, push, bedrock, read, embed}
    assert names("MigrateFunction") == {base}
    assert names("IndexerFunction") == {base, read, write, embed}


def test_no_identity_policy_grants_a_service_wildcard(resources: dict[str, Any]) -> None:
    for name, r in resources.items():
        docs = []
        if r["Type"] == "AWS::IAM::ManagedPolicy":
            docs.append(r["Properties"]["PolicyDocument"])
        if r["Type"] == "AWS::IAM::Role":
            docs += [p["PolicyDocument"] for p in r["Properties"].get("Policies", [])]
        for doc in docs:
            for s in statements(doc):
                if "Fn::If" in s:  # a statement only some parameter values grant: check both
                    _, s, _ = s["Fn::If"]
                for action in as_list(s["Action"]):
                    assert action != "*" and not action.endswith(":*"), f"{name}: {action}"


# -- Network -----------------------------------------------------------------------------
def _endpoints(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {sub_text(r["Properties"]["ServiceName"]).rsplit(".", 1)[-1]: r for r in resources.values()
            if r["Type"] == "AWS::EC2::VPCEndpoint"}


def test_vpc_endpoints(resources: dict[str, Any]) -> None:
    endpoints = _endpoints(resources)
    assert set(endpoints) >= {"s3", "secretsmanager", "logs", "bedrock-runtime", "bedrock", "ecs", "ecs-agent",
                              "ecs-telemetry", "api", "dkr"}
    assert endpoints["s3"]["Properties"]["VpcEndpointType"] == "Gateway"
    assert endpoints["bedrock-runtime"]["Condition"] == "CreateBedrockEndpoints"
    assert endpoints["ecs"]["Condition"] == "CreateEcsEndpoints"


def test_no_execute_api_endpoint_to_hijack_websocket_pushes(resources: dict[str, Any]) -> None:
    """A private-DNS execute-api endpoint resolves every *.execute-api name in the VPC to
    itself, and it serves private REST APIs only: @connections posts would fail."""
    assert "execute-api" not in _endpoints(resources)


def test_everything_runs_in_private_subnets_over_two_azs(resources: dict[str, Any]) -> None:
    a, b = (resources[s]["Properties"]["AvailabilityZone"] for s in ("PrivateSubnetA", "PrivateSubnetB"))
    assert a == {"Fn::Select": [0, {"Fn::GetAZs": ""}]} and b == {"Fn::Select": [1, {"Fn::GetAZs": ""}]}
    private = [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    assert resources["DbSubnetGroup"]["Properties"]["SubnetIds"] == private
    assert resources["DbProxy"]["Properties"]["VpcSubnetIds"] == private
    assert resources["OllamaAutoScalingGroup"]["Properties"]["VPCZoneIdentifier"] == private
    awsvpc = resources["OllamaService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert awsvpc["Subnets"] == private and awsvpc["AssignPublicIp"] == "DISABLED"
    assert all(not r["Properties"].get("MapPublicIpOnLaunch", False) for r in resources.values()
               if r["Type"] == "AWS::EC2::Subnet")


def test_nat_is_optional(resources: dict[str, Any]) -> None:
    for name in ("InternetGateway", "NatGatewayA", "PublicSubnetA", "PrivateDefaultRouteA", "PrivateDefaultRouteB"):
        assert resources[name]["Condition"] == "HasNat", name
    assert resources["NatGatewayB"]["Condition"] == "TwoNats"


def test_no_security_group_allows_everything_out_or_anything_in_from_the_internet(resources: dict[str, Any]) -> None:
    for name, r in resources.items():
        if r["Type"] != "AWS::EC2::SecurityGroup":
            continue
        for rule in r["Properties"].get("SecurityGroupEgress", []):
            assert rule["IpProtocol"] != "-1", name
        for rule in r["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0", name


# -- Data --------------------------------------------------------------------------------
def test_database_is_encrypted_backed_up_private_and_behind_a_tls_proxy(resources: dict[str, Any]) -> None:
    db = resources["Database"]
    p = db["Properties"]
    assert db["DeletionPolicy"] == "Snapshot"
    assert p["StorageEncrypted"] is True and p["PubliclyAccessible"] is False
    assert p["BackupRetentionPeriod"] == {"Ref": "DbBackupRetentionDays"}
    assert p["DeletionProtection"] == {"Ref": "DbDeletionProtection"}
    assert p["MultiAZ"] == {"Ref": "DbMultiAz"}
    assert p["DBInstanceClass"] == {"Ref": "DbInstanceClass"}
    assert "{{resolve:secretsmanager:${DbSecret}:SecretString:password}}" == sub_text(p["MasterUserPassword"])
    proxy = resources["DbProxy"]["Properties"]
    assert proxy["RequireTLS"] is True and proxy["Auth"][0]["SecretArn"] == {"Ref": "DbSecret"}


def test_secrets_are_generated_never_typed(resources: dict[str, Any]) -> None:
    for name in ("DbSecret", "JwtSecret"):
        p = resources[name]["Properties"]
        assert "GenerateSecretString" in p and "SecretString" not in p, name
        assert p["KmsKeyId"] == {"Ref": "DataKey"}
    assert resources["JwtSecret"]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 48


# -- Ollama ------------------------------------------------------------------------------
def test_ollama_task_has_a_gpu_models_on_encrypted_efs_and_a_patient_health_check(resources: dict[str, Any]) -> None:
    task = resources["OllamaTaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    assert container["ResourceRequirements"] == [{"Type": "GPU", "Value": "1"}]
    (volume,) = task["Volumes"]
    efs = volume["EFSVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED"
    assert efs["AuthorizationConfig"] == {"AccessPointId": {"Ref": "ModelAccessPoint"}, "IAM": "ENABLED"}
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    (mount,) = container["MountPoints"]
    assert mount["SourceVolume"] == volume["Name"] and env["OLLAMA_MODELS"] == mount["ContainerPath"]
    assert env["OLLAMA_NOPRUNE"] == "1"
    assert env["OLLAMA_KEEP_ALIVE"] == {"Ref": "OllamaKeepAlive"}
    assert env["OLLAMA_NUM_PARALLEL"] == {"Ref": "OllamaNumParallel"}
    assert env["OMNICHAT_PRELOAD_MODELS"] == {"Ref": "OllamaModels"}
    assert container["HealthCheck"]["StartPeriod"] == 300  # ECS's maximum
    assert container["HealthCheck"]["Command"] == ["CMD", "/opt/omnichat/healthcheck.sh"]
    assert resources["ModelFileSystem"]["Properties"]["Encrypted"] is True


def test_gpu_capacity_comes_from_the_ecs_gpu_ami_and_scales_to_zero(template: dict[str, Any],
                                                                    resources: dict[str, Any]) -> None:
    assert template["Parameters"]["GpuAmiId"]["Default"].startswith("/aws/service/ecs/optimized-ami/")
    assert resources["OllamaLaunchTemplate"]["Properties"]["LaunchTemplateData"]["ImageId"] == {"Ref": "GpuAmiId"}
    assert resources["OllamaAutoScalingGroup"]["Properties"]["MinSize"] == "0"
    assert resources["OllamaCapacityProvider"]["Properties"]["AutoScalingGroupProvider"]["ManagedScaling"][
        "Status"] == "ENABLED"
    assert template["Parameters"]["OllamaDesiredCount"]["MinValue"] == 0
    assert resources["OllamaService"]["Properties"]["DesiredCount"] == \
        {"Fn::If": ["OllamaImageKnown", {"Ref": "OllamaDesiredCount"}, 0]}  # test_first_deploy.py
    assert resources["OllamaService"]["Properties"]["ServiceRegistries"] == [
        {"RegistryArn": {"Fn::GetAtt": ["OllamaDiscoveryService", "Arn"]}}]


def test_every_ollama_resource_disappears_with_enable_ollama_false(resources: dict[str, Any]) -> None:
    ollama_types = ("AWS::ECS::", "AWS::EFS::", "AWS::ECR::", "AWS::ServiceDiscovery::", "AWS::AutoScaling::")
    for name, r in resources.items():
        if r["Type"].startswith(ollama_types) or name.startswith("Ollama"):
            assert r.get("Condition") in ("OllamaEnabled", "OllamaRunning", "OllamaAutoscaling"), name


def test_the_ollama_service_autoscales_between_two_parameters(template: dict[str, Any],
                                                              resources: dict[str, Any]) -> None:
    """Only when OllamaMaxCount is set (and tasks run at all); from OllamaDesiredCount tasks up
    to OllamaMaxCount, tracking CPU; the instances follow (capacity provider, up to 8)."""
    target = resources["OllamaScalableTarget"]
    assert target["Condition"] == "OllamaAutoscaling"
    assert template["Conditions"]["OllamaAutoscaling"] == {"Fn::And": [
        {"Condition": "OllamaRunning"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "OllamaMaxCount"}, 0]}]}]}
    props = target["Properties"]
    assert props["MinCapacity"] == {"Ref": "OllamaDesiredCount"} and props["MaxCapacity"] == {"Ref": "OllamaMaxCount"}
    assert sub_text(props["ResourceId"]) == "service/${OllamaCluster}/${OllamaService.Name}"
    policy = resources["OllamaScalingPolicy"]["Properties"]
    assert policy["ScalingTargetId"] == {"Ref": "OllamaScalableTarget"}
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == {"Ref": "OllamaScalingCpuTarget"}
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    assert template["Parameters"]["OllamaMaxCount"]["MaxValue"] == 8
    assert resources["OllamaAutoScalingGroup"]["Properties"]["MaxSize"] == "8"
    assert resources["OllamaDiscoveryService"]["Properties"]["DnsConfig"]["RoutingPolicy"] == "MULTIVALUE"


# -- Frontend ----------------------------------------------------------------------------
def test_frontend_bucket_is_private_and_read_by_cloudfront_only(resources: dict[str, Any]) -> None:
    block = resources["FrontendBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())
    allow, deny = statements(resources["FrontendBucketPolicy"]["Properties"]["PolicyDocument"])
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "${FrontendDistribution}" in sub_text(allow["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert deny["Effect"] == "Deny"
    origins = resources["FrontendDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    assert origins[0]["OriginAccessControlId"] == {"Fn::GetAtt": ["FrontendOriginAccessControl", "Id"]}


def test_config_json_is_generated_from_the_stack(resources: dict[str, Any]) -> None:
    code = sub_text(resources["FrontendConfigFunction"]["Properties"]["FunctionCode"])
    assert "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}" in code
    assert "${GatewayUrl}v1" in code
    behaviors = resources["FrontendDistribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
    by_path = {b["PathPattern"]: b for b in behaviors}
    assert by_path["/config.json"]["FunctionAssociations"][0]["EventType"] == "viewer-request"
    assert by_path["/api/*"]["TargetOriginId"] == "api"


# -- Operations --------------------------------------------------------------------------
def test_alarms_cover_lambda_websocket_ollama_and_database(resources: dict[str, Any]) -> None:
    metrics = set()
    for r in resources.values():
        if r["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = r["Properties"]
        assert p["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        if "MetricName" in p:
            metrics.add(f"{p['Namespace']}/{p['MetricName']}")
        for m in p.get("Metrics", []):
            if "MetricStat" in m:
                metrics.add(f"{m['MetricStat']['Metric']['Namespace']}/{m['MetricStat']['Metric']['MetricName']}")
    assert metrics >= {"AWS/Lambda/Errors", "AWS/Lambda/Throttles", "AWS/ApiGateway/IntegrationError",
                       "AWS/ApiGateway/ExecutionError", "ECS/ContainerInsights/RunningTaskCount",
                       "AWS/RDS/CPUUtilization", "AWS/RDS/DatabaseConnections"}
    errors = {r["Properties"]["Dimensions"][0]["Value"]["Ref"] for r in resources.values()
              if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "Errors"}
    assert errors == {n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}


def test_the_sso_secret_policy_reads_only_the_client_secret(resources: dict[str, Any]) -> None:
    """Single sign-on (SsoMode): the REST API reads the client secret, nothing else does;
    Cognito's is the stack's own named secret, an external issuer's the ARN given."""
    policy = resources["ReadSsoSecretPolicy"]
    assert policy["Condition"] == "ReadsSsoSecret"
    secret, kms = policy["Properties"]["PolicyDocument"]["Statement"]
    assert secret["Action"] == "secretsmanager:GetSecretValue"
    condition, external, cognito = secret["Resource"]["Fn::If"]
    assert (condition, external) == ("ExternalSsoSecret", {"Ref": "OidcClientSecretArn"})
    assert cognito["Fn::Sub"].endswith(":secret:omnichat/${AWS::StackName}/oidc-client-*")
    name = resources["CognitoClientSecret"]["Properties"]["Name"]
    assert name == {"Fn::Sub": "omnichat/${AWS::StackName}/oidc-client"}
    assert kms["Action"] == "kms:Decrypt" and "kms:ViaService" in kms["Condition"]["StringEquals"]
    client = resources["CognitoAppClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"] and client["GenerateSecret"] is True
    assert "implicit" not in client["AllowedOAuthFlows"]

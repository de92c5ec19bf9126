"""The account-setup function (template.yaml, "Account prerequisites"), its inline code run
as Lambda would run it, against moto in server mode with accounts in both states: the ECS
service-linked role missing or present, the API Gateway CloudWatch role unset, set and
working, or set to a role that was deleted. CloudFormation's side is a loopback receiver."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.serve import moto_server

REGION = "us-east-1"
ECS_ROLE = "AWSServiceRoleForECS"
ECS_ROLE_PATH = "/aws-service-role/ecs.amazonaws.com/"
TRUST = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'  # noqa: E501


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A fresh account on the moto server; the function's boto3 clients reach it through the
    standard endpoint variable, as they would reach AWS."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).read()
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield {"iam": boto3.client("iam", region_name=REGION), "apigateway": boto3.client("apigateway", region_name=REGION)}


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> types.ModuleType:
    code = template["Resources"]["AccountSetupFunction"]["Properties"]["Code"]["ZipFile"]
    module = types.ModuleType("index")
    exec(compile(code, "AccountSetupFunction/index.py", "exec"), module.__dict__)  # noqa: S102 - the stack's own code
    return module


@pytest.fixture
def run_setup(function: types.ModuleType, template: dict[str, Any], aws: dict[str, Any],
              cfn_responses: Any) -> Any:
    """run_setup(resource, request="Create", **changes): the function handles CloudFormation's
    request for that resource of the template (on the `aws` account); its answer."""
    url, received = cfn_responses
    return lambda resource, request="Create", **changes: invoke(function, template, resource, url, received,
                                                                request, **changes)


def invoke(function: types.ModuleType, template: dict[str, Any], resource: str, url: str,
           received: list[dict[str, Any]], request: str = "Create", **changes: Any) -> dict[str, Any]:
    properties = {k: v for k, v in template["Resources"][resource]["Properties"].items() if not isinstance(v, dict)}
    properties.update({"SettleSeconds": "0", "RetrySeconds": "0"}, **changes)
    event = {"RequestType": request, "ResponseURL": url, "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:"
             "stack/omnichat/5b7f1e30-a9f0-11ef-9c1a-0a1b2c3d4e5f", "RequestId": f"req-{len(received)}",
             "LogicalResourceId": resource, "ResourceType": template["Resources"][resource]["Type"],
             "ResourceProperties": properties}
    function.handler(event, None)
    answer = received[-1]
    assert answer["RequestId"] == event["RequestId"] and answer["LogicalResourceId"] == resource
    return answer


def test_the_inline_code_fits_cloudformations_zipfile_limit(template: dict[str, Any]) -> None:
    code = template["Resources"]["AccountSetupFunction"]["Properties"]["Code"]["ZipFile"]
    assert len(code.encode()) <= 4096


def test_an_account_that_never_used_ecs_gets_the_service_linked_role(run_setup: Any, aws: dict[str, Any]) -> None:
    answer = run_setup("EcsServiceLinkedRole")
    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"Created": "true"}
    assert ecs_service_linked_roles(aws)  # one, by its path (moto spells the name "AWSServiceRoleForecs")


def ecs_service_linked_roles(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return aws["iam"].list_roles(PathPrefix=ECS_ROLE_PATH)["Roles"]


def seed_ecs_service_linked_role(aws: dict[str, Any]) -> dict[str, Any]:
    """The role as AWS names it (ECS created it, or an admin did)."""
    trust = TRUST.replace("apigateway.amazonaws.com", "ecs.amazonaws.com")
    return aws["iam"].create_role(RoleName=ECS_ROLE, Path=ECS_ROLE_PATH, AssumeRolePolicyDocument=trust)["Role"]


def test_an_account_with_the_role_is_left_as_it_is(run_setup: Any, aws: dict[str, Any]) -> None:
    created = seed_ecs_service_linked_role(aws)
    for request in ("Create", "Update"):
        answer = run_setup("EcsServiceLinkedRole", request=request)
        assert answer["Status"] == "SUCCESS" and answer["Data"] == {"Created": "false"}
    assert [r["RoleId"] for r in ecs_service_linked_roles(aws)] == [created["RoleId"]]


def test_deleting_the_stack_keeps_the_account_wide_role(run_setup: Any, aws: dict[str, Any]) -> None:
    run_setup("EcsServiceLinkedRole")
    answer = run_setup("EcsServiceLinkedRole", request="Delete", PhysicalResourceId="omnichat-ecs-service-linked-role")
    assert answer["Status"] == "SUCCESS"
    assert len(ecs_service_linked_roles(aws)) == 1


def make_role(aws: dict[str, Any], name: str) -> str:
    return aws["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]


def account_role(aws: dict[str, Any]) -> str:
    return aws["apigateway"].get_account().get("cloudwatchRoleArn", "")


def set_account_role(aws: dict[str, Any], arn: str) -> None:
    aws["apigateway"].update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])


def test_an_account_without_an_api_gateway_logging_role_gets_this_stacks(run_setup: Any, aws: dict[str, Any]) -> None:
    ours = make_role(aws, "omnichat-ApiGatewayCloudWatchRole-1")
    answer = run_setup("ApiGatewayLoggingRole", RoleArn=ours)
    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"RoleArn": ours, "Changed": "true"}
    assert account_role(aws) == ours


def test_a_working_role_another_stack_set_is_not_overwritten(run_setup: Any, aws: dict[str, Any]) -> None:
    theirs, ours = make_role(aws, "their-apigw-logs"), make_role(aws, "omnichat-ApiGatewayCloudWatchRole-1")
    set_account_role(aws, theirs)
    answer = run_setup("ApiGatewayLoggingRole", RoleArn=ours)
    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"RoleArn": theirs, "Changed": "false"}
    assert account_role(aws) == theirs


def test_a_setting_left_pointing_at_a_deleted_role_is_repaired(run_setup: Any, aws: dict[str, Any]) -> None:
    gone = make_role(aws, "torn-down-stack-role")
    set_account_role(aws, gone)
    aws["iam"].delete_role(RoleName="torn-down-stack-role")
    ours = make_role(aws, "omnichat-ApiGatewayCloudWatchRole-1")
    answer = run_setup("ApiGatewayLoggingRole", RoleArn=ours)
    assert answer["Data"] == {"RoleArn": ours, "Changed": "true"} and account_role(aws) == ours


def test_a_failure_is_reported_with_what_to_do_never_left_to_time_out(run_setup: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: IAM unreachable
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    answer = run_setup("EcsServiceLinkedRole")
    assert answer["Status"] == "FAILED"
    assert "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com" in answer["Reason"]
    assert "CreateEcsServiceLinkedRole=false" in answer["Reason"]

"""`omnichat aws preflight`, run as a user runs it (a subprocess of the CLI, AWS_ENDPOINT_URL
pointing at moto in server mode) against accounts in both states, plus its decisions on
the answers moto cannot give (Lambda's account settings, quotas, Bedrock access), taken
in the shapes AWS documents, and the read-only guarantee."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.serve import moto_server
from omnichat.aws import preflight, stack_config
from omnichat.aws.preflight import FAIL, OK, SKIP, WARN, Finding
from omnichat.aws.preflight_bedrock import foundation_model_id, judge_availability

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def account(moto: str) -> str:
    """A fresh account (moto reset): nothing in it, as on a new AWS account."""
    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST"), timeout=10).close()
    return moto


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # AWS_MAX_ATTEMPTS=1: moto answers 500 for the APIs it lacks (quotas, Bedrock's list),
    # and a retry of those only waits.
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=endpoint,
               AWS_REGION=REGION, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_MAX_ATTEMPTS="1")
    env.update(extra)
    return env


def boto(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def preflight_cli(endpoint: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omnichat.cli", "aws", "preflight", *args], cwd=ROOT,
                          env=env or aws_env(endpoint), capture_output=True, text=True, timeout=120)


def line(output: str, start: str) -> str:
    found = [x for x in output.splitlines() if x.startswith(start)]
    assert found, f"no line starting {start!r} in:\n{output}"
    return found[0]


def fix_after(output: str, start: str) -> str:
    lines = output.splitlines()
    index = lines.index(line(output, start))
    assert lines[index + 1].lstrip().startswith("fix: "), output
    return lines[index + 1].strip().removeprefix("fix: ")


# ---------------------------------------------------------------------------- a new account vs a ready one

def test_a_new_account_is_told_what_to_expect_and_how_to_fix_it(account: str) -> None:
    """moto implements neither Lambda's account settings, the EC2 quota values nor Bedrock's
    model-access APIs: each is reported as not checked, by name, and blocks nothing."""
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    run = preflight_cli(account, "--config-env", "prod", "--bedrock-model", model)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert line(out, "[ ok ] samconfig [prod] parameters")
    assert "account 123456789012" in line(out, "[ ok ] credentials")
    # The stack creates the missing role itself (CreateEcsServiceLinkedRole=auto): said, not blocking.
    assert "the stack creates it" in line(out, "[warn] ECS service-linked role: AWSServiceRoleForECS does not exist")
    assert "CreateEcsServiceLinkedRole=false" in fix_after(out, "[warn] ECS service-linked role")
    assert "verified" in line(out, "[warn] CloudFront")
    assert line(out, "[skip] Lambda concurrency: not checked: this endpoint does not implement"
                     " lambda GetAccountSettings")
    assert line(out, "[skip] GPU instance vCPU quota: not checked: this endpoint does not implement")
    assert line(out, "[skip] Bedrock: not checked: this endpoint does not implement bedrock ListFoundationModels")
    assert line(out, f"[skip] Bedrock {model}: not checked: this endpoint does not implement"
                     " bedrock GetFoundationModelAvailability")
    assert line(out, "[skip] Anthropic first-time-use form: not checked: this endpoint does not implement"
                     " bedrock GetUseCaseForModelAccess")
    assert line(out, "[ ok ] SnapStart for Python: available in us-east-1")  # prod enables it
    assert out.rstrip().endswith("Nothing blocks a deploy.")


def test_a_missing_ecs_role_blocks_when_the_stack_may_not_create_it(account: str, tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "omnichat"\n'
                         'parameter_overrides = ["CreateEcsServiceLinkedRole=false"]\n')
    run = preflight_cli(account, "--samconfig", str(samconfig))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "rolls back" in line(run.stdout, "[FAIL] ECS service-linked role: AWSServiceRoleForECS does not exist")
    assert fix_after(run.stdout, "[FAIL] ECS service-linked role") == \
        "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com"
    assert run.stdout.rstrip().endswith("1 blocking problem: fix it before `sam deploy`.")


def test_an_account_with_the_ecs_role_and_a_distribution_passes(account: str) -> None:
    # What `aws iam create-service-linked-role` leaves (moto's own SLR call misnames the role).
    boto(account, "iam").create_role(RoleName="AWSServiceRoleForECS", Path="/aws-service-role/ecs.amazonaws.com/",
                                     AssumeRolePolicyDocument="{}")
    boto(account, "cloudfront").create_distribution(DistributionConfig={
        "CallerReference": "ref", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "example.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}}})
    run = preflight_cli(account)
    assert run.returncode == 0, run.stdout + run.stderr
    assert line(run.stdout, "[ ok ] ECS service-linked role: AWSServiceRoleForECS exists")
    assert line(run.stdout, "[ ok ] CloudFront")
    assert run.stdout.rstrip().endswith("Nothing blocks a deploy.")


def test_no_credentials_is_a_clear_failure(account: str) -> None:
    env = aws_env(account)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    run = preflight_cli(account, env=env)
    assert run.returncode == 1
    assert "NoCredentialsError" in line(run.stdout, "[FAIL] credentials")
    assert "aws configure" in fix_after(run.stdout, "[FAIL] credentials")
    assert "Traceback" not in run.stderr


def test_bad_samconfig_values_block_before_anything_is_created(account: str, tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "omnichat"\n'
                         'parameter_overrides = "NatGateways=0 EnableInterfaceEndpoints=false'
                         ' DbMultiAz=maybe Bogus=1"\n')
    run = preflight_cli(account, "--samconfig", str(samconfig))
    assert run.returncode == 1
    fails = [x for x in run.stdout.splitlines() if x.startswith("[FAIL] samconfig [default] parameters")]
    assert any("Bogus: not a template parameter" in x for x in fails)
    assert any("DbMultiAz: 'maybe' is not one of" in x for x in fails)
    assert any("rule NoNatNeedsEndpoints" in x for x in fails)


def test_an_unknown_environment_or_missing_template_says_which(account: str, tmp_path: Path) -> None:
    run = preflight_cli(account, "--config-env", "staging")
    assert run.returncode == 1
    assert "no environment [staging] (found: default, dev, prod" in line(run.stdout, "[FAIL] stack files")
    run = preflight_cli(account, "--template", str(tmp_path / "nope.yaml"))
    assert run.returncode == 1 and "nope.yaml" in line(run.stdout, "[FAIL] stack files")


# ---------------------------------------------------------------------------- read-only

def test_the_session_refuses_every_write_before_it_is_sent(account: str) -> None:
    from botocore.exceptions import ClientError

    session = preflight.read_only_session(None, REGION)
    iam = session.client("iam", endpoint_url=account, aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(preflight.ReadOnlyViolation, match="CreateServiceLinkedRole"):
        iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    with pytest.raises(ClientError):  # a read goes through: the account really has no such role
        iam.get_role(RoleName="AWSServiceRoleForECS")
    assert boto(account, "iam").list_roles()["Roles"] == []


def test_a_whole_run_sends_only_reads(account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in aws_env(account).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    sent: list[str] = []

    def recording(profile: str | None, region: str) -> Any:
        session = preflight.read_only_session(profile, region)
        session.events.register("before-call", lambda model, **_: sent.append(model.name))
        return session

    inputs = preflight.Inputs(ROOT / "template.yaml", ROOT / "samconfig.toml", "prod",
                              bedrock_models=("anthropic.claude-3-haiku-20240307-v1:0",))
    findings = preflight.run(inputs, recording)
    assert {"GetCallerIdentity", "GetRole", "GetAccountSettings", "ListDistributions",
            "GetFoundationModelAvailability"} <= set(sent)
    assert all(name.startswith(preflight.READ_ONLY_PREFIXES) for name in sent), sent
    assert {f.check for f in findings} >= {"credentials", "ECS service-linked role", "CloudFront"}


# ---------------------------------------------------------------------------- decisions and formatting

def test_concurrency_reservations_a_new_account_cannot_make_block() -> None:
    """Lambda keeps 10 executions unreserved: on a quota-10 account any reservation fails."""
    (low,) = preflight.judge_concurrency(10, 10, {"WsChatFunction": 5})
    assert low.status == FAIL and "reserves 5" in low.detail and "L-B99A9384" in low.fix
    (fits,) = preflight.judge_concurrency(1000, 1000, {"WsChatFunction": 50, "GatewayFunction": 20})
    assert fits.status == OK and "reserves 70" in fits.detail
    (edge,) = preflight.judge_concurrency(1000, 80, {"WsChatFunction": 70})
    assert edge.status == OK  # exactly 10 left
    (small,) = preflight.judge_concurrency(10, 10, {})
    assert small.status == WARN and "each streaming answer holds one" in small.detail
    # An update: the 60 the deployed stack holds are counted out of the unreserved 100.
    (update,) = preflight.judge_concurrency(1000, 100, {"WsChatFunction": 100}, deployed=60)
    assert update.status == OK and "160 of 1000" in update.detail


def test_what_a_deployed_stack_reserves_is_read_from_the_account(account: str) -> None:
    import io
    import zipfile

    role = boto(account, "iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", "def handler(e, c):\n    return e\n")
    lam = boto(account, "lambda")
    for name, reserve in (("omnichat-WsChat", 7), ("omnichat-Api", None)):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": code.getvalue()})
        if reserve:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserve)
    session = preflight.read_only_session(None, REGION)
    ours = dict(endpoint_url=account, aws_access_key_id="testing", aws_secret_access_key="testing")
    assert preflight.reserved_by(session.client("lambda", **ours), ["omnichat-WsChat", "omnichat-Api"]) == 7

    class Endpoint:  # the same read-only session, every client pointed at moto
        region_name = REGION

        def client(self, service: str) -> Any:
            return session.client(service, **ours)

    assert preflight.deployed_reservations(Endpoint(), "omnichat") == 0  # no such stack yet: a first deploy


RESERVING_TEMPLATE: dict[str, Any] = {
    "Parameters": {"WsChatReservedConcurrency": {"Type": "Number", "Default": 0},
                   "EnableOllama": {"Type": "String", "Default": "true"}},
    "Conditions": {"Reserve": {"Fn::Not": [{"Fn::Equals": [{"Ref": "WsChatReservedConcurrency"}, 0]}]},
                   "OllamaEnabled": {"Fn::Equals": [{"Ref": "EnableOllama"}, "true"]}},
    "Globals": {"Function": {"ReservedConcurrentExecutions": 2}},
    "Resources": {
        "WsChatFunction": {"Type": "AWS::Serverless::Function", "Properties": {"ReservedConcurrentExecutions": {
            "Fn::If": ["Reserve", {"Ref": "WsChatReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}}},
        "PullFunction": {"Type": "AWS::Serverless::Function", "Condition": "OllamaEnabled", "Properties": {}},
        "Raw": {"Type": "AWS::Lambda::Function", "Properties": {}},
    },
}


def test_reserved_concurrency_is_read_from_the_template_and_its_parameters() -> None:
    values = stack_config.parameter_values(RESERVING_TEMPLATE, {"WsChatReservedConcurrency": "40"})
    assert stack_config.reserved_concurrency(RESERVING_TEMPLATE, values) == {"WsChatFunction": 40, "PullFunction": 2}
    values = stack_config.parameter_values(RESERVING_TEMPLATE, {"EnableOllama": "false"})
    assert stack_config.reserved_concurrency(RESERVING_TEMPLATE, values) == {}


def test_no_gpu_instance_starts_before_an_image_is_named() -> None:
    template = stack_config.load_template(ROOT / "template.yaml")
    prod = stack_config.load_samconfig(ROOT / "samconfig.toml", "prod").overrides
    values = stack_config.parameter_values(template, {**prod, "OllamaImageTag": ""})
    assert int(values["OllamaDesiredCount"]) >= 1 and preflight.ollama_tasks(template, values) == 0
    values = stack_config.parameter_values(template, {**prod, "OllamaImageTag": "0.12.9-omnichat.1"})
    assert preflight.ollama_tasks(template, values) == int(values["OllamaDesiredCount"])


def test_autoscaling_counts_its_most_tasks_and_never_fewer_than_desired() -> None:
    template = stack_config.load_template(ROOT / "template.yaml")
    prod = stack_config.load_samconfig(ROOT / "samconfig.toml", "prod").overrides
    values = stack_config.parameter_values(template, {**prod, "OllamaImageTag": "t1", "OllamaDesiredCount": "1",
                                                      "OllamaMaxCount": "3"})
    assert preflight.ollama_tasks(template, values) == 3  # the GPU quota must allow the most
    assert preflight.check_ollama_scaling(values) is None
    wrong = preflight.check_ollama_scaling({"OllamaDesiredCount": "2", "OllamaMaxCount": "1"})
    assert wrong is not None and wrong.status == FAIL
    assert "OllamaMaxCount=1 is below OllamaDesiredCount=2" in wrong.detail
    assert preflight.check_ollama_scaling({"OllamaDesiredCount": "2", "OllamaMaxCount": "0"}) is None


def test_gpu_quota_blocks_only_when_a_task_must_run() -> None:
    assert preflight.judge_gpu_quota(8, "g4dn.xlarge", 4, 2).status == OK
    waiting = preflight.judge_gpu_quota(0, "g4dn.xlarge", 4, 0)
    assert waiting.status == WARN and "--desired-value 4" in waiting.fix
    blocked = preflight.judge_gpu_quota(4, "g5.2xlarge", 8, 1)
    assert blocked.status == FAIL and "needs 8 vCPUs" in blocked.detail and "L-DB2E81BA" in blocked.fix


@pytest.mark.parametrize("answer,status,words", [
    ({"regionAvailability": "AVAILABLE", "authorizationStatus": "AUTHORIZED", "entitlementAvailability": "AVAILABLE",
      "agreementAvailability": {"status": "AVAILABLE"}}, OK, "available"),
    ({"regionAvailability": "AVAILABLE", "authorizationStatus": "AUTHORIZED",
      "entitlementAvailability": "NOT_AVAILABLE", "agreementAvailability": {"status": "NOT_AVAILABLE"}},
     FAIL, "no Marketplace agreement"),
    ({"regionAvailability": "AVAILABLE", "authorizationStatus": "AUTHORIZED", "entitlementAvailability": "AVAILABLE",
      "agreementAvailability": {"status": "PENDING"}}, WARN, "being processed"),
    ({"regionAvailability": "AVAILABLE", "authorizationStatus": "NOT_AUTHORIZED",
      "agreementAvailability": {"status": "AVAILABLE"}}, FAIL, "not authorized"),
    ({"regionAvailability": "NOT_AVAILABLE", "agreementAvailability": {"status": "AVAILABLE"}}, FAIL, "not offered"),
    ({"regionAvailability": "AVAILABLE", "authorizationStatus": "AUTHORIZED",
      "agreementAvailability": {"status": "ERROR", "errorMessage": "payment instrument"}}, FAIL, "payment instrument"),
])
def test_bedrock_availability_is_judged_as_a_first_call_would_meet_it(answer: dict[str, Any], status: str,
                                                                        words: str) -> None:
    finding = judge_availability("bedrock/x.y", answer)
    assert finding.status == status and words in finding.detail
    assert status == OK or finding.fix


def test_inference_profiles_are_checked_through_their_model() -> None:
    assert foundation_model_id("bedrock/us.anthropic.claude-3-haiku-20240307-v1:0") == \
        "anthropic.claude-3-haiku-20240307-v1:0"
    assert foundation_model_id("global.anthropic.claude-sonnet-4-5-20250929-v1:0").startswith("anthropic.")
    assert foundation_model_id("amazon.nova-lite-v1:0") == "amazon.nova-lite-v1:0"


def test_snapstart_outside_the_listed_regions_warns_and_names_the_source() -> None:
    assert preflight.check_snapstart("eu-west-1", {"SnapStart": "Enabled"}).status == OK
    elsewhere = preflight.check_snapstart("us-gov-west-1", {"SnapStart": "Enabled"})
    assert elsewhere.status == WARN and "What's New" in elsewhere.detail and "SnapStart=Disabled" in elsewhere.fix
    assert preflight.check_snapstart("us-gov-west-1", {"SnapStart": "Disabled"}).status == OK


def test_the_report_format() -> None:
    findings = [Finding(OK, "a", "fine", "never shown"), Finding(WARN, "b", "hmm", "do b"),
                Finding(FAIL, "c", "broken", "do c"), Finding(SKIP, "d", "not checked: why")]
    assert preflight.render(findings) == "\n".join([
        "[ ok ] a: fine",
        "[warn] b: hmm",
        "       fix: do b",
        "[FAIL] c: broken",
        "       fix: do c",
        "[skip] d: not checked: why",
        "1 blocking problem: fix it before `sam deploy`.",
    ])
    assert preflight.exit_code(findings) == 1 and preflight.exit_code(findings[:2] + findings[3:]) == 0

"""`omnichat aws preflight`: before a `sam deploy`, ask the account (read-only) what would
make the deploy fail or the stack not work, and print a one-line fix for each.

Checks: the samconfig parameters against the template's constraints and rules; the ECS
service-linked role (Ollama); the Lambda concurrency quota against the stack's reserved
concurrency; the GPU vCPU quota (Ollama); access to each named Bedrock model (region,
Marketplace agreement, Anthropic's first-time-use form); CloudFront; SnapStart for Python
in the region. A check that cannot be made (denied, or an endpoint without the API) says
"not checked" and why, and never guesses.

Read-only by construction: every AWS call goes through a session that refuses any
operation not named Get*, List* or Describe* before it is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import stack_config
from .stack_config import DeployConfig, StackConfigError

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
READ_ONLY_PREFIXES = ("Get", "List", "Describe")

ECS_SERVICE_LINKED_ROLE = "AWSServiceRoleForECS"
ECS_SERVICE = "ecs.amazonaws.com"
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # Concurrent executions
GPU_VCPU_QUOTA = "L-DB2E81BA"  # Running On-Demand G and VT instances (vCPUs)
MIN_UNRESERVED = 10  # Lambda refuses a reservation that leaves fewer unreserved executions
LOW_CONCURRENCY = 100  # below this, a few concurrent answers exhaust the account's pool

# Lambda SnapStart for Python, as announced: GA in 9 Regions (AWS What's New, 2024-11-18,
# "AWS Lambda SnapStart for Python and .NET functions is now generally available"), then 23
# more (AWS What's New, 2025-06, "... now available in 23 additional AWS Regions"). A Region
# not listed may have been added since: the check warns, it does not block.
SNAPSTART_PYTHON_SOURCE = "AWS What's New 2024-11-18 and 2025-06 (SnapStart for Python and .NET)"
SNAPSTART_PYTHON_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
    "eu-central-1", "eu-west-1", "eu-north-1",
    "af-south-1", "ap-east-1", "ap-south-1", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-7", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1",
    "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-central-2", "il-central-1", "me-south-1",
    "me-central-1", "mx-central-1", "sa-east-1", "us-west-1",
})


@dataclass(frozen=True)
class Finding:
    status: str  # OK, WARN, FAIL or SKIP
    check: str
    detail: str
    fix: str = ""


class ReadOnlyViolation(RuntimeError):
    """An AWS operation that could change the account; the preflight never sends one."""


@dataclass
class Inputs:
    template_path: Path
    samconfig_path: Path
    config_env: str = "default"
    region: str = ""
    profile: str | None = None
    bedrock_models: tuple[str, ...] = ()


def refuse_writes(**kwargs: Any) -> None:
    """botocore `before-call` hook: only Get*/List*/Describe* operations leave this process."""
    model = kwargs["model"]  # botocore calls every handler with keyword arguments only
    if not model.name.startswith(READ_ONLY_PREFIXES):
        raise ReadOnlyViolation(f"{model.service_model.service_name} {model.name}: the preflight is read-only")


def read_only_session(profile: str | None, region: str) -> Any:
    import boto3  # not on any Lambda hot path: the preflight runs on the deployer's machine
    import botocore.session
    from botocore.config import Config

    core = botocore.session.Session(profile=profile)
    core.register("before-call", refuse_writes)
    # One retry: an answer, not a wait, is what the preflight is for. AWS_MAX_ATTEMPTS, the
    # variable every AWS tool reads, still decides when it is set.
    given = os.environ.get("AWS_MAX_ATTEMPTS", "")
    attempts = int(given) if given.isdigit() and int(given) > 0 else 2
    core.set_default_client_config(Config(retries={"mode": "standard", "max_attempts": attempts},
                                          connect_timeout=5, read_timeout=20))
    return boto3.Session(botocore_session=core, region_name=region or os.environ.get("AWS_REGION") or None)


def error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


def not_implemented(exc: Exception) -> bool:
    """An endpoint (an emulator, an older partition) that lacks the API altogether: it
    answers with no AWS error at all, and botocore names the error by its HTTP status."""
    code = error_code(exc)
    return code.isdigit() or code in ("NotImplemented", "UnknownOperationException", "InvalidAction")


def unchecked(check: str, operation: str, exc: Exception) -> Finding:
    if not_implemented(exc):
        return Finding(SKIP, check, f"not checked: this endpoint does not implement {operation}")
    return Finding(SKIP, check, f"not checked: {operation} failed ({error_code(exc)}: {_message(exc)})",
                   "run the preflight with credentials that may call it (read-only)")


def _message(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")) or str(exc)


# ---------------------------------------------------------------------------- the checks

def check_parameters(template: dict[str, Any], config: DeployConfig) -> list[Finding]:
    check = f"samconfig [{config.env}] parameters"
    params = template.get("Parameters") or {}
    problems = [f"{name}: not a template parameter" for name in config.overrides if name not in params]
    for name, value in config.overrides.items():
        if name in params:
            problems += [f"{name}: {why}" for why in stack_config.violations(params[name], value)]
    values = stack_config.parameter_values(template, config.overrides)
    for name, definition in params.items():
        if "Default" not in definition and name not in config.overrides:
            problems.append(f"{name}: has no default and no value")
    for rule in stack_config.failed_rules(template, values):
        descriptions = [a.get("AssertDescription", "") for a in template["Rules"][rule]["Assertions"]]
        problems.append(f"rule {rule}: {' '.join(d for d in descriptions if d)}")
    if problems:
        return [Finding(FAIL, check, problem, "correct parameter_overrides in samconfig.toml") for problem in problems]
    return [Finding(OK, check, f"{len(config.overrides)} overrides pass the template's constraints and rules")]


def check_ecs_role(session: Any, values: dict[str, str]) -> Finding:
    """The template makes sure of the role itself unless CreateEcsServiceLinkedRole=false;
    then, or with a template without that parameter, a missing role blocks the deploy."""
    check = "ECS service-linked role"
    create = f"aws iam create-service-linked-role --aws-service-name {ECS_SERVICE}"
    try:
        session.client("iam").get_role(RoleName=ECS_SERVICE_LINKED_ROLE)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal
        if error_code(exc) != "NoSuchEntity":
            return unchecked(check, "iam GetRole", exc)
        missing = f"{ECS_SERVICE_LINKED_ROLE} does not exist (an account that never used ECS)"
        if values.get("CreateEcsServiceLinkedRole") == "auto":
            return Finding(WARN, check, f"{missing}: the stack creates it, which needs iam:CreateServiceLinkedRole"
                           " on the deploying identity", f"if you may not, have an admin run `{create}` and deploy"
                           " with CreateEcsServiceLinkedRole=false")
        return Finding(FAIL, check, f"{missing}: the Ollama cluster fails to create and the stack rolls back", create)
    return Finding(OK, check, f"{ECS_SERVICE_LINKED_ROLE} exists")


def ollama_tasks(template: dict[str, Any], values: dict[str, str]) -> int:
    """GPU instances the deploy may run: OllamaDesiredCount, or up to OllamaMaxCount when it
    autoscales, unless the template's OllamaRunning condition (e.g. no pushed image yet)
    keeps the service at 0."""
    conditions = template.get("Conditions") or {}
    if "OllamaRunning" in conditions and not stack_config.evaluate(conditions["OllamaRunning"], values, conditions):
        return 0
    desired = int(float(values.get("OllamaDesiredCount", "0") or 0))
    return max(desired, int(float(values.get("OllamaMaxCount", "0") or 0)))


def check_ollama_scaling(values: dict[str, str]) -> Finding | None:
    """OllamaMaxCount, when set, bounds OllamaDesiredCount from above (Application Auto
    Scaling refuses a minimum above the maximum, and the deploy would roll back)."""
    most = int(float(values.get("OllamaMaxCount", "0") or 0))
    fewest = int(float(values.get("OllamaDesiredCount", "0") or 0))
    if most and most < fewest:
        return Finding(FAIL, "Ollama autoscaling", f"OllamaMaxCount={most} is below OllamaDesiredCount={fewest}",
                       f"set OllamaMaxCount to {fewest} or more, or 0 for no autoscaling")
    return None


def judge_concurrency(limit: int, unreserved: int, reserved: dict[str, int], deployed: int = 0) -> list[Finding]:
    """The Lambda pool against the stack's reservations. `deployed`: what the stack already
    deployed reserves, counted out of `unreserved` by Lambda and freed again by the update."""
    check = "Lambda concurrency"
    total = sum(reserved.values())
    free = unreserved + deployed
    raise_quota = (f"aws service-quotas request-service-quota-increase --service-code lambda "
                   f"--quota-code {LAMBDA_CONCURRENCY_QUOTA} --desired-value 1000")
    if total and free - total < MIN_UNRESERVED:
        names = ", ".join(f"{k}={v}" for k, v in sorted(reserved.items()))
        return [Finding(FAIL, check, f"the stack reserves {total} executions ({names}) but only {free} of {limit}"
                        f" are free to reserve, and Lambda keeps {MIN_UNRESERVED} unreserved", raise_quota)]
    if limit < LOW_CONCURRENCY:
        return [Finding(WARN, check, f"the account may run {limit} executions at once (new accounts often get 10):"
                        " each streaming answer holds one", raise_quota)]
    return [Finding(OK, check, f"{free} of {limit} executions free to reserve; the stack reserves {total}")]


def deployed_reservations(session: Any, stack_name: str) -> int:
    """What the functions of the stack as deployed reserve now (0 before a first deploy)."""
    if not stack_name:
        return 0
    pages = session.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name)
    try:
        names = [r["PhysicalResourceId"] for page in pages for r in page["StackResourceSummaries"]
                 if r["ResourceType"] == "AWS::Lambda::Function" and r.get("PhysicalResourceId")]
    except Exception as exc:
        if error_code(exc) == "ValidationError":  # "Stack with id ... does not exist"
            return 0
        raise
    return reserved_by(session.client("lambda"), names)


def reserved_by(lambda_client: Any, function_names: list[str]) -> int:
    return sum(int(lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions", 0))
               for name in function_names)


def check_lambda_concurrency(session: Any, reserved: dict[str, int], stack_name: str) -> list[Finding]:
    try:
        limits = session.client("lambda").get_account_settings()["AccountLimit"]
    except Exception as exc:  # noqa: BLE001
        return [unchecked("Lambda concurrency", "lambda GetAccountSettings", exc)]
    try:
        deployed = deployed_reservations(session, stack_name)
    except Exception as exc:  # noqa: BLE001
        return [unchecked("Lambda concurrency", "cloudformation ListStackResources / lambda GetFunctionConcurrency",
                          exc)]
    return judge_concurrency(int(limits["ConcurrentExecutions"]), int(limits["UnreservedConcurrentExecutions"]),
                             reserved, deployed)


def judge_gpu_quota(quota: float, instance_type: str, vcpus: int, tasks: int) -> Finding:
    """`tasks` GPU instances against the vCPU quota; with none to start yet, what the first
    one will need (a warning, not a blocker)."""
    check = "GPU instance vCPU quota"
    needed = vcpus * max(tasks, 1)
    fix = (f"aws service-quotas request-service-quota-increase --service-code ec2 --quota-code {GPU_VCPU_QUOTA}"
           f" --desired-value {needed}")
    what = (f"{max(tasks, 1)} x {instance_type} needs {needed} vCPUs of 'Running On-Demand G and VT instances',"
            f" quota {quota:g}")
    if quota >= needed:
        return Finding(OK, check, what)
    if tasks == 0:
        return Finding(WARN, check, f"{what}: fine while no Ollama task runs (OllamaDesiredCount=0 or no image"
                       " pushed yet), but none can start after", fix)
    return Finding(FAIL, check, f"{what}: the Ollama task never gets an instance", fix)


def check_gpu_quota(session: Any, instance_type: str, desired: int) -> Finding:
    check = "GPU instance vCPU quota"
    try:
        described = session.client("ec2").describe_instance_types(InstanceTypes=[instance_type])
        vcpus = int(described["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"])
    except Exception as exc:  # noqa: BLE001
        return unchecked(check, "ec2 DescribeInstanceTypes", exc)
    quotas = session.client("service-quotas")
    try:
        quota = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=GPU_VCPU_QUOTA)["Quota"]["Value"]
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) != "NoSuchResourceException":
            return unchecked(check, "service-quotas GetServiceQuota", exc)
        try:  # an account that never asked for more has only the default
            quota = quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=GPU_VCPU_QUOTA)["Quota"]["Value"]
        except Exception as exc2:  # noqa: BLE001
            return unchecked(check, "service-quotas GetAWSDefaultServiceQuota", exc2)
    return judge_gpu_quota(float(quota), instance_type, vcpus, desired)


def check_cloudfront(session: Any) -> Finding:
    check = "CloudFront"
    try:
        listing = session.client("cloudfront").list_distributions(MaxItems="1")["DistributionList"]
    except Exception as exc:  # noqa: BLE001
        return unchecked(check, "cloudfront ListDistributions", exc)
    if int(listing.get("Quantity", 0)) or listing.get("IsTruncated"):
        return Finding(OK, check, "the account already has distributions")
    return Finding(WARN, check, "no distribution in this account yet: a new account may be refused one until AWS"
                   " verifies it ('Your account must be verified before you can add new CloudFront resources')",
                   "if the deploy fails so, ask AWS Support (Account and billing) to verify the account, then redeploy")


def check_snapstart(region: str, values: dict[str, str]) -> Finding:
    check = "SnapStart for Python"
    if values.get("SnapStart", "Disabled") != "Enabled":
        return Finding(OK, check, "SnapStart=Disabled: not needed")
    if region in SNAPSTART_PYTHON_REGIONS:
        return Finding(OK, check, f"available in {region} (source: {SNAPSTART_PYTHON_SOURCE})")
    return Finding(WARN, check, f"{region} is not in the Regions listed by {SNAPSTART_PYTHON_SOURCE}: the"
                   " SnapStart functions may fail to create", "set SnapStart=Disabled in samconfig.toml, or check"
                   " the Lambda developer guide's SnapStart page for this Region")


# ---------------------------------------------------------------------------- the run

def run(inputs: Inputs, session_factory: Callable[[str | None, str], Any] = read_only_session) -> list[Finding]:
    try:
        template = stack_config.load_template(inputs.template_path)
        config = stack_config.load_samconfig(inputs.samconfig_path, inputs.config_env)
    except StackConfigError as exc:
        return [Finding(FAIL, "stack files", str(exc), "run the preflight from the repository root, or pass"
                        " --template and --samconfig")]
    findings = check_parameters(template, config)
    values = stack_config.parameter_values(template, config.overrides)
    session = session_factory(inputs.profile, inputs.region or config.region)
    region = session.region_name
    if not region:
        return [*findings, Finding(FAIL, "region", "no AWS Region is configured",
                                   "pass --region, set AWS_REGION, or region= in samconfig.toml")]
    try:
        identity = session.client("sts").get_caller_identity()
    except Exception as exc:  # noqa: BLE001 - no credentials, expired ones, no network
        return [*findings, Finding(FAIL, "credentials", f"{error_code(exc)}: {_message(exc)}",
                                   "aws configure (or aws sso login), then run the preflight again")]
    findings.append(Finding(OK, "credentials", f"account {identity['Account']}, region {region}"))
    ollama = values.get("EnableOllama") == "true"
    if ollama:
        findings.append(check_ecs_role(session, values))
    findings += check_lambda_concurrency(session, stack_config.reserved_concurrency(template, values),
                                         config.stack_name)
    if ollama:
        scaling = check_ollama_scaling(values)
        findings += [scaling] if scaling else []
        tasks = ollama_tasks(template, values)
        findings.append(check_gpu_quota(session, values.get("OllamaInstanceType", ""), tasks))
    if values.get("EnableBedrock") == "true":
        from .preflight_bedrock import check_bedrock

        findings += check_bedrock(session, inputs.bedrock_models)
    findings.append(check_cloudfront(session))
    findings.append(check_snapstart(region, values))
    return findings


LABELS = {OK: "[ ok ]", WARN: "[warn]", FAIL: "[FAIL]", SKIP: "[skip]"}


def render(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{LABELS[f.status]} {f.check}: {f.detail}")
        if f.fix and f.status != OK:
            lines.append(f"       fix: {f.fix}")
    blocking = sum(f.status == FAIL for f in findings)
    lines.append(f"{blocking} blocking problem{'s' if blocking != 1 else ''}: fix {'them' if blocking != 1 else 'it'}"
                 " before `sam deploy`." if blocking else "Nothing blocks a deploy.")
    return "\n".join(lines)


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.status == FAIL for f in findings) else 0


def main(inputs: Inputs) -> int:
    findings = run(inputs)
    print(render(findings), flush=True)
    return exit_code(findings)

"""The offline static checks of template.yaml, run by `make lint`: cfn-lint, SAM's own
validation (the SAM transform: Globals, Policies with Fn::If, Function URLs, the layer) and
checkov's security policies on the template and on the transformed template, as
CloudFormation receives it (each function's role, API Gateway's permissions, the Function
URL): zero findings from each. Suppressions must say why: each checkov skip in a resource's
Metadata has a comment, each check .checkov.yaml skips everywhere is preceded by one
(tests/stack/test_template_suppressions.py, which needs none of these tools).

Offline: a region, no credentials, no telemetry, no update checks, a throwaway HOME. The
three tools run at once (they are independent) and each prints one summary line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent
MIN_PASSED = 150  # checkov really scanned the file (a parse problem passes nothing)


def offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAM_"))}
    env.update({"HOME": str(home), "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true", "SAM_CLI_TELEMETRY": "0",
                "SAM_CLI_DISABLE_CHECK_FOR_UPDATES": "1", "BC_SKIP_MAPPING": "TRUE",
                "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    return env


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as SAM CLI reads it (short-form intrinsics become Ref/Fn::* dicts)."""
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


def transformed_template(out: Path) -> Path:
    """template.yaml after SAM's own translator, offline. A checkov skip on a SAM function
    applies to what SAM generates from it (the same logical-id prefix)."""
    from samtranslator.translator.transform import transform

    template = load_template()
    skips: dict[str, Any] = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://artifacts/{name}.zip"  # what `sam package` puts there
            skips[name] = resource.get("Metadata", {}).get("checkov")
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://artifacts/{name}.zip"

    class NoManagedPolicyNames:  # every policy in the template is an ARN or a Ref
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated = transform(template, {}, NoManagedPolicyNames())
    for name, resource in translated["Resources"].items():
        owner = next((f for f in skips if name.startswith(f) and name != f and skips[f]), None)
        if owner:
            resource.setdefault("Metadata", {})["checkov"] = skips[owner]
    out.write_text(json.dumps(translated, default=str))
    return out


def checkov_problems(stdout: str, files: dict[str, Path]) -> list[str]:
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        return ["checkov wrote no JSON report"]
    reports = report if isinstance(report, list) else [report]
    if [r["check_type"] for r in reports] != ["cloudformation"]:
        return [f"checkov ran {[r['check_type'] for r in reports]}, not only cloudformation"]
    results, version = reports[0]["results"], reports[0]["summary"]["checkov_version"]
    problems = []
    for label, path in files.items():  # checkov names files relative to its working directory
        def mine(kind: str) -> list[dict[str, Any]]:
            return [c for c in results[kind] if Path(c["file_path"]).name == path.name]  # noqa: B023
        passed, failed, skipped = mine("passed_checks"), mine("failed_checks"), mine("skipped_checks")
        print(f"checkov {version} on the {label}: passed {len(passed)}, failed {len(failed)}, "
              f"skipped {len(skipped)}")
        if any(Path(e).name == path.name for e in results.get("parsing_errors", [])):
            problems.append(f"checkov could not parse the {label}")
        problems += [f"checkov {c['check_id']} on the {label}, {c['resource']}: {c['check_name']}" for c in failed]
        if len(passed) < MIN_PASSED:
            problems.append(f"checkov passed only {len(passed)} checks on the {label}: was it scanned?")
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="omnichat-template-checks-") as tmp:
        env = offline_env(Path(tmp))
        files = {"template": TEMPLATE, "transformed template": transformed_template(Path(tmp) / "template.json")}
        checkov = [str(BIN / "checkov"), "--config-file", str(ROOT / ".checkov.yaml"), "--output", "json"]
        for path in files.values():
            checkov += ["-f", str(path)]
        commands = {
            "cfn-lint": [str(BIN / "cfn-lint"), "--format", "parseable", str(TEMPLATE)],
            "sam validate": [str(BIN / "sam"), "validate", "--template-file", str(TEMPLATE), "--region", "us-east-1"],
            "checkov": checkov,
        }
        running = {name: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True) for name, cmd in commands.items()}
        problems = []
        for name, proc in running.items():
            stdout, stderr = proc.communicate(timeout=600)
            if name == "checkov":
                problems += checkov_problems(stdout, files)
            elif proc.returncode != 0:
                problems.append(f"{name} (exit {proc.returncode}):\n{stdout}{stderr}")
            else:
                print(f"{name}: clean")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

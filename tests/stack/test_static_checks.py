"""The offline checks that exist for a CloudFormation/SAM template: cfn-lint, SAM's own
validation, and checkov's security policies (zero failures; every suppression has a
reason, either in the resource's Metadata or in .checkov.yaml).

Each tool runs once: `sam validate --lint` is cfn-lint under another name (SAM CLI calls
cfnlint.api.lint on the same template), so cfn-lint runs by itself; checkov reads the
template and the transformed template in one run, and each test reads its file's part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, TEMPLATE, run_checker, tool


def test_cfn_lint_is_clean(offline_env: dict[str, str], pytestconfig: pytest.Config) -> None:
    result = run_checker(pytestconfig, [tool("cfn-lint"), "--format", "parseable", str(TEMPLATE)], offline_env)
    print(f"cfn-lint: exit {result.returncode}, {len(result.stdout.splitlines())} findings")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_translates_the_template(offline_env: dict[str, str], pytestconfig: pytest.Config) -> None:
    """Plain `sam validate` runs the SAM transform itself (Globals, Policies with Fn::If,
    Function URLs, the layer) without AWS credentials."""
    result = run_checker(pytestconfig, [tool("sam"), "validate", "--template-file", str(TEMPLATE),
                                        "--region", "us-east-1"], offline_env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def checkov_reports(translated_template: Path, offline_env: dict[str, str],
                    pytestconfig: pytest.Config) -> dict[str, dict[str, Any]]:
    """One checkov run over template.yaml and the transformed template: each file's passed,
    failed and skipped checks, and whether it parsed ("template", "transformed")."""
    files = {"template": TEMPLATE, "transformed": translated_template}
    cmd = [tool("checkov"), "--config-file", str(ROOT / ".checkov.yaml"), "--output", "json"]
    for path in files.values():
        cmd += ["-f", str(path)]
    result = run_checker(pytestconfig, cmd, offline_env, timeout=600)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov produced no JSON report (exit {result.returncode}): {result.stderr[-2000:]}")
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["cloudformation"], [r["check_type"] for r in reports]
    results, version = reports[0]["results"], reports[0]["summary"]["checkov_version"]

    def of(path: Path) -> dict[str, Any]:  # checkov names files relative to its working directory
        mine = {kind: [c for c in results[kind] if Path(c["file_path"]).name == path.name]
                for kind in ("passed_checks", "failed_checks", "skipped_checks")}
        mine["parsed"] = not any(Path(e).name == path.name for e in results.get("parsing_errors", []))
        mine["resources"] = len({c["resource"] for c in mine["passed_checks"] + mine["failed_checks"]})
        mine["version"] = version
        return mine

    return {name: of(path) for name, path in files.items()}


def checkov_summary(report: dict[str, Any]) -> str:
    return (f"checkov {report['version']}: passed {len(report['passed_checks'])}, failed "
            f"{len(report['failed_checks'])}, skipped {len(report['skipped_checks'])}, "
            f"resources checked {report['resources']}")


def test_checkov_has_no_failed_checks(checkov_reports: dict[str, dict[str, Any]]) -> None:
    report = checkov_reports["template"]
    print(checkov_summary(report))
    failed = report["failed_checks"]
    assert report["parsed"]
    assert failed == [], "\n".join(f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in failed)
    assert len(report["passed_checks"]) > 150  # the template was actually scanned


def test_every_checkov_suppression_has_a_reason(checkov_reports: dict[str, dict[str, Any]]) -> None:
    skipped = checkov_reports["template"]["skipped_checks"]
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        print(f"skipped {check['check_id']} on {check['resource']}: {reason}")
        assert len(reason) >= 30, f"{check['check_id']} on {check['resource']} is suppressed without a reason"
    config_text = (ROOT / ".checkov.yaml").read_text()
    for check_id in yaml.safe_load(config_text).get("skip-check", []):
        # Each globally skipped check is preceded by a comment that names it and says why.
        assert f"# {check_id} (" in config_text, f"{check_id} is skipped in .checkov.yaml without a reason"
        print(f"skipped {check_id} for every resource (.checkov.yaml)")


@pytest.fixture(scope="module")
def translated_template(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any) -> Path:
    """template.yaml after the SAM transform, as CloudFormation will receive it (roles,
    permissions, the Function URL, the HTTP API's routes), produced offline by SAM's own
    translator. Checkov suppressions on a SAM function apply to what SAM generates from
    it (same logical-id prefix)."""
    from samtranslator.translator.transform import transform

    from .conftest import load_template

    template = load_template()
    skips: dict[str, Any] = {}
    for name, r in template["Resources"].items():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = f"s3://artifacts/{name}.zip"  # what `sam package` puts there
            skips[name] = r.get("Metadata", {}).get("checkov")
        if r["Type"] == "AWS::Serverless::LayerVersion":
            r["Properties"]["ContentUri"] = f"s3://artifacts/{name}.zip"

    class NoManagedPolicyNames:  # every policy in the template is an ARN or a Ref
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    out = transform(template, {}, NoManagedPolicyNames())
    for name, r in out["Resources"].items():
        owner = next((f for f in skips if name.startswith(f) and name != f and skips[f]), None)
        if owner:
            r.setdefault("Metadata", {})["checkov"] = skips[owner]
    path = tmp_path_factory.mktemp("translated") / "template.json"
    path.write_text(json.dumps(out, default=str))
    return path


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    patcher = pytest.MonkeyPatch()
    yield patcher
    patcher.undo()


def test_checkov_on_the_transformed_template_has_no_failed_checks(
        checkov_reports: dict[str, dict[str, Any]]) -> None:
    """The generated resources (each function's role, API Gateway's permissions, the
    Function URL) pass too."""
    report = checkov_reports["transformed"]
    print("on the transformed template:", checkov_summary(report))
    failed = report["failed_checks"]
    assert report["parsed"]
    assert failed == [], "\n".join(f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in failed)
    assert len(report["passed_checks"]) > 150


def test_checkov_config_skips_only_what_it_explains() -> None:
    config = yaml.safe_load(Path(ROOT / ".checkov.yaml").read_text())
    assert set(config["skip-check"]) == {"CKV_AWS_115", "CKV_AWS_116"}

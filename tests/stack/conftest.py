"""Fixtures for the stack checks: the parsed template, and the environment the SAM CLI,
cfn-lint and checkov run in (offline, no AWS credentials, no telemetry)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent
PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv"))


def tool(name: str) -> str:
    """A console script installed next to this interpreter (the project's venv)."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: add it to the test extra (pip install {name})")
    return found


# What a static checker's answer depends on, besides the files it is given.
CHECKER_DISTRIBUTIONS = ("cfn-lint", "checkov", "aws-sam-cli", "aws-sam-translator")


def run_checker(config: pytest.Config, cmd: list[str], env: dict[str, str],
                timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run an offline checker (cfn-lint, checkov, sam validate), reusing a clean answer from
    pytest's cache when nothing it reads has changed: the key holds the command with each
    file argument replaced by its bytes' hash (template, config, translated template) and
    the checkers' versions. A fresh clone runs each checker once; a failure is always run
    again."""
    key = hashlib.sha256()
    for name in CHECKER_DISTRIBUTIONS:
        key.update(f"{name}=={_version(name)};".encode())
    for arg in cmd:
        path = Path(arg)
        key.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else arg.encode())
        key.update(b"\0")
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    slot = f"omnichat/checkers/{key.hexdigest()[:32]}"
    kept = cache.get(slot, None) if cache is not None else None
    if kept is not None:
        return subprocess.CompletedProcess(cmd, 0, kept["stdout"], kept["stderr"])
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode == 0 and cache is not None:
        cache.set(slot, {"stdout": result.stdout, "stderr": result.stderr})
    return result


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as SAM CLI reads it (short-form intrinsics become Ref/Fn::* dicts)."""
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


def python312_env() -> dict[str, str] | None:
    """An environment with a working python3.12 on PATH (sam build needs the function
    runtime's Python), or None. Here pyenv provides it: PYENV_VERSION lists this
    interpreter's version first (so `python3` is unchanged) and 3.12 second."""
    attempts: list[dict[str, str]] = [dict(os.environ)]
    pythons = sorted((PYENV_ROOT / "versions").glob("3.12*")) if (PYENV_ROOT / "versions").is_dir() else []
    if pythons:
        here = ".".join(map(str, sys.version_info[:3]))
        first = here if (PYENV_ROOT / "versions" / here).is_dir() else "system"
        env = dict(os.environ)
        env["PYENV_ROOT"] = str(PYENV_ROOT)
        env["PYENV_VERSION"] = f"{first}:{pythons[-1].name}"
        env["PATH"] = f"{PYENV_ROOT / 'shims'}:{PYENV_ROOT / 'bin'}:{env.get('PATH', '')}"
        attempts.append(env)
    for env in attempts:
        exe = shutil.which("python3.12", path=env.get("PATH"))
        if exe and subprocess.run([exe, "--version"], env=env, capture_output=True, check=False).returncode == 0:
            return env
    return None


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="session")
def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}


@pytest.fixture(scope="session")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """For the SAM CLI and checkov: a region, no credentials, no telemetry, no update
    checks, a private home so nothing is read from or written to the real one."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAM_"))}
    env.update({
        "HOME": str(home),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_DISABLE_CHECK_FOR_UPDATES": "1",
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    })
    return env


@pytest.fixture
def cfn_responses() -> Any:
    """CloudFormation's side of a custom resource: (the URL the function PUTs its answer to,
    the answers received)."""
    from tests.helpers import CfnResponses

    with CfnResponses() as cloudformation:
        yield cloudformation.url, cloudformation.received

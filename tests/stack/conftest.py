"""Fixtures for the stack checks: the parsed template, and the environment the SAM CLI runs
in (offline, no AWS credentials, no telemetry)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from . import template_checks
from .template_checks import BIN, ROOT, TEMPLATE, load_template

__all__ = ["BIN", "ROOT", "TEMPLATE", "load_template"]  # the stack tests take these from here

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
    """For the SAM CLI: what `make lint`'s template checks run in (a region, no credentials,
    no telemetry, no update checks), with a private home."""
    return template_checks.offline_env(tmp_path_factory.mktemp("home"))


@pytest.fixture
def cfn_responses() -> Any:
    """CloudFormation's side of a custom resource: (the URL the function PUTs its answer to,
    the answers received)."""
    from tests.helpers import CfnResponses

    with CfnResponses() as cloudformation:
        yield cloudformation.url, cloudformation.received

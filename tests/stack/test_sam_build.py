"""`sam build` on python3.12, into a temporary directory: the layer gets its dependencies
for the functions' architecture, every function gets its handler, the gateway keeps its
executable start script."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, TEMPLATE, load_template, python312_env, tool


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory, offline_env: dict[str, str]) -> Path:
    env = python312_env()
    if env is None:
        pytest.skip("python3.12 is not installed (sam build needs the function runtime; pyenv install 3.12)")
    env.update({k: v for k, v in offline_env.items() if k not in ("PATH", "PYENV_VERSION", "PYENV_ROOT")})
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    out = tmp_path_factory.mktemp("sam")
    missing = [str(p) for p in _code_uris() if not (ROOT / p).is_dir()]
    assert not missing, f"CodeUri folders missing (not written yet?): {missing}"
    started = time.monotonic()
    result = subprocess.run(
        [tool("sam"), "build", "--template-file", str(TEMPLATE), "--build-dir", str(out / "build"),
         "--cache-dir", str(out / "cache"), "--parallel"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=480, check=False)
    print(f"sam build: exit {result.returncode} in {time.monotonic() - started:.1f}s "
          f"(PYENV_VERSION={env.get('PYENV_VERSION', '-')})")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "build"


def _code_uris() -> list[str]:
    resources = load_template()["Resources"]
    return [r["Properties"]["CodeUri"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]


@pytest.mark.timeout(600)
def test_sam_build_succeeds_on_python312(build_dir: Path) -> None:
    built = load_template(build_dir / "template.yaml")["Resources"]
    functions = {n: r for n, r in built.items() if r["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == len(_code_uris()) == 9
    for name, f in functions.items():
        code = build_dir / f["Properties"]["CodeUri"]
        handler = f["Properties"].get("Handler", "app.handler")
        entry = code / ("run.sh" if handler == "run.sh" else handler.split(".")[0] + ".py")
        assert entry.is_file(), f"{name}: {entry} missing from the build"


def test_layer_holds_the_core_package_and_its_arm64_dependencies(build_dir: Path, template: dict[str, Any]) -> None:
    python = build_dir / "OmniChatLayer" / "python"
    assert (python / "omnichat" / "__init__.py").is_file()
    for package in ("sqlalchemy", "pydantic", "pydantic_core", "fastapi", "mangum", "pg8000", "jwt", "argon2"):
        assert (python / package).is_dir(), f"{package} not installed into the layer"
    # The terminal client (omnichat_cli) and its libraries stay out: no Lambda imports them.
    for package in ("omnichat/client", "omnichat_cli", "rich"):
        assert not (python / package).exists(), f"{package} shipped in the layer"
    arch = template["Globals"]["Function"]["Architectures"][0]
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    native = list(python.glob("pydantic_core/*.so"))
    assert native and all(machine in so.name for so in native), [so.name for so in native]
    size = sum(f.stat().st_size for f in python.rglob("*") if f.is_file())
    print(f"layer: {size / 2**20:.1f} MiB unzipped (Lambda allows 250 MiB for function + layers)")
    assert size < 200 * 2**20


def test_gateway_start_script_stays_executable(build_dir: Path) -> None:
    script = build_dir / "GatewayFunction" / "run.sh"
    assert script.is_file() and os.access(script, os.X_OK)


def test_gateway_start_script_finds_uvicorn_in_the_build(build_dir: Path) -> None:
    """run.sh runs `python -m uvicorn`: uvicorn must ship in the layer or the function,
    since the Lambda Python runtime does not include it."""
    places = [build_dir / "OmniChatLayer" / "python" / "uvicorn", build_dir / "GatewayFunction" / "uvicorn"]
    assert any(p.is_dir() for p in places), (
        "uvicorn is not in the build: add it to layers/omnichat/requirements.txt "
        "(or functions/gateway/requirements.txt)")


def test_layer_ships_bytecode_python_loads_without_the_source_check(build_dir: Path) -> None:
    """Lambda's /opt is read-only: a module without bytecode is compiled again at every cold
    start. Every module must have a python3.12 .pyc in unchecked-hash mode (flags == 0b01),
    valid whatever file times the deployment zip leaves."""
    python = build_dir / "OmniChatLayer" / "python"
    sources = [p for p in python.rglob("*.py") if "__pycache__" not in p.parts]
    missing, checked = [], []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not pyc.is_file():
            missing.append(str(source.relative_to(python)))
            continue
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        if flags != 0b01:
            checked.append(str(source.relative_to(python)))
    print(f"layer: {len(sources)} modules, {len(missing)} without bytecode")
    assert not missing[:5] and not checked[:5], (missing[:5], checked[:5])

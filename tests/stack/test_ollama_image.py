"""ollama_service/ as a container definition (no Docker here, so: what can be proven
without building it): a pinned official base, the entrypoint and health check the task
definition points at, hash-pinned dependencies, scripts that parse, and a companion that
needs nothing but the standard library and pg8000 on the Python the image ships."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from typing import Any

import pytest

from .conftest import PYENV_ROOT, ROOT

SERVICE = ROOT / "ollama_service"
PACKAGE = SERVICE / "omnichat_pull"


def dockerfile() -> str:
    return (SERVICE / "Dockerfile").read_text()


def test_base_image_is_the_official_ollama_image_at_a_pinned_version() -> None:
    text = dockerfile()
    version = re.search(r"^ARG OLLAMA_VERSION=(\S+)$", text, re.MULTILINE)
    assert version and re.fullmatch(r"\d+\.\d+\.\d+", version.group(1)), "pin an exact Ollama release"
    assert re.search(r"^FROM ollama/ollama:\$\{OLLAMA_VERSION\}(@sha256:[a-f0-9]{64})?$", text, re.MULTILINE)
    assert "latest" not in re.findall(r"^FROM .*$", text, re.MULTILINE)[0]


def test_entrypoint_and_health_check_are_what_the_task_definition_runs(resources: dict[str, Any]) -> None:
    text = dockerfile()
    assert 'ENTRYPOINT ["/opt/omnichat/entrypoint.sh"]' in text
    assert 'CMD ["/opt/omnichat/healthcheck.sh"]' in text
    assert "COPY --chmod=0755 entrypoint.sh healthcheck.sh /opt/omnichat/" in text
    (container,) = resources["OllamaTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["HealthCheck"]["Command"] == ["CMD", "/opt/omnichat/healthcheck.sh"]
    # The task's root file system is read-only: bytecode is compiled into the image.
    assert container["ReadonlyRootFilesystem"] is True and "compileall" in text


def test_entrypoint_serves_at_once_and_runs_the_companion_beside_it() -> None:
    lines = [line for line in (SERVICE / "entrypoint.sh").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[-1] == "exec /bin/ollama serve"  # Ollama is the main process
    assert "/opt/omnichat/bin/python -m omnichat_pull run &" in lines


@pytest.mark.parametrize("script", ["ollama_service/entrypoint.sh", "ollama_service/healthcheck.sh",
                                    "functions/gateway/run.sh"])
def test_shell_scripts_parse_and_are_executable(script: str) -> None:
    path = ROOT / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    assert subprocess.run(["sh", "-n", str(path)], capture_output=True, check=False).returncode == 0


def test_dependencies_are_pinned_with_hashes() -> None:
    requirements = (SERVICE / "requirements.txt").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n\s+--hash=sha256:([a-f0-9]{64})$", requirements, re.MULTILINE)
    names = {name.lower() for name, _, _ in entries}
    assert "pg8000" in names and len(entries) == len(re.findall(r"^[A-Za-z]", requirements, re.MULTILINE))
    assert "--require-hashes" in dockerfile()


def test_the_companion_uses_only_the_standard_library_and_pg8000() -> None:
    allowed = set(sys.stdlib_module_names) | {"pg8000", "omnichat_pull", "__future__"}
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            assert set(roots) <= allowed, f"{module.name} imports {roots}"


def test_the_companion_runs_on_the_oldest_python_the_image_may_ship() -> None:
    """Ubuntu 22.04 based Ollama images carry Python 3.10."""
    pythons = sorted((PYENV_ROOT / "versions").glob("3.10*")) if (PYENV_ROOT / "versions").is_dir() else []
    if not pythons:
        pytest.skip("no Python 3.10 here to check with")
    result = subprocess.run([str(pythons[-1] / "bin" / "python"), "-c",
                             "import omnichat_pull.__main__, omnichat_pull.worker, omnichat_pull.health; print('ok')"],
                            cwd=SERVICE, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr

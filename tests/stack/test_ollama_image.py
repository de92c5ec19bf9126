"""ollama_service/ as a container definition (no Docker here, so: what can be proven
without building it): a pinned official base, the entrypoint and health check the task
definition points at, hash-pinned dependencies, scripts that parse, and a companion that
needs nothing but the standard library, pg8000 and the one core module the image copies
(omnichat.db.dbapi) on the Python the image ships."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import PYENV_ROOT, ROOT

SERVICE = ROOT / "ollama_service"
PACKAGE = SERVICE / "omnichat_pull"
CORE = ROOT / "layers/omnichat/omnichat"  # the `core` build context


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


def _imports(module: Path) -> set[str]:
    """The absolute imports of a module, as dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


# What the image copies from the core (`COPY --from=core <files> <dir>`), as (file, dir).
CORE_COPIES = re.compile(r"^COPY --from=core ((?:\S+ )+)(/opt/omnichat/\S+/)$", re.MULTILINE)


def image_core_files() -> dict[str, Path]:
    """Path in the image (under /opt/omnichat) -> the file in this repository."""
    files = {}
    for sources, target in CORE_COPIES.findall(dockerfile()):
        for source in sources.split():
            files[target.removeprefix("/opt/omnichat/") + Path(source).name] = CORE / source
    return files


def test_the_companion_uses_only_the_standard_library_pg8000_and_the_shared_dbapi_helper() -> None:
    allowed = set(sys.stdlib_module_names) | {"pg8000", "omnichat_pull", "__future__"}
    for module in PACKAGE.glob("*.py"):
        for name in _imports(module):
            if name.startswith("omnichat."):  # the core, only the one module the image carries
                assert name == "omnichat.db.dbapi", f"{module.name} imports {name}"
            else:
                assert name.split(".")[0] in allowed, f"{module.name} imports {name}"
    for path in image_core_files().values():  # and that module needs no more
        assert {name.split(".")[0] for name in _imports(path)} <= allowed, f"{path} imports beyond the stdlib"


def test_the_image_copies_the_core_files_the_companion_imports_from_the_context_the_docs_name() -> None:
    assert set(image_core_files()) == {"omnichat/__init__.py", "omnichat/db/__init__.py", "omnichat/db/dbapi.py"}
    assert all(path.is_file() for path in image_core_files().values())
    context = f"--build-context core={CORE.relative_to(ROOT)}"
    for doc in ("docs/deploy.md", "ollama_service/README.md", "ollama_service/Dockerfile"):
        builds = re.findall(r"docker build [^\n]*(?:\\\n[^\n]*)*", (ROOT / doc).read_text())
        assert builds and all(context in build for build in builds), f"{doc}: every build names {context}"


def image_layout(into: Path) -> Path:
    """/opt/omnichat as the Dockerfile lays it out: the companion and the core files it copies."""
    shutil.copytree(PACKAGE, into / "omnichat_pull", ignore=shutil.ignore_patterns("__pycache__"))
    for inside, source in image_core_files().items():
        (into / inside).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, into / inside)
    return into


def test_the_companion_runs_on_the_oldest_python_the_image_may_ship(tmp_path: Path) -> None:
    """Ubuntu 22.04 based Ollama images carry Python 3.10. Only the image's files are on
    the path (-S: no site-packages), and the store opens a database through the shared helper."""
    pythons = sorted((PYENV_ROOT / "versions").glob("3.10*")) if (PYENV_ROOT / "versions").is_dir() else []
    if not pythons:
        pytest.skip("no Python 3.10 here to check with")
    opt = image_layout(tmp_path / "opt")
    code = ("import omnichat_pull.__main__, omnichat_pull.worker, omnichat_pull.health\n"
            "from omnichat_pull.store import PullStore\n"
            f"store = PullStore.from_url('sqlite:///{tmp_path / 'w.db'}')\n"
            "print(store._execute('SELECT 1')[1][0][0], 'ok')")
    result = subprocess.run([str(pythons[-1] / "bin" / "python"), "-S", "-c", code], cwd=tmp_path,
                            env={"PYTHONPATH": str(opt)}, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "1 ok", result.stderr

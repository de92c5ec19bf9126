"""Blocker 1 of issue 14: Ollama and its pull worker can write the model store on EFS.

EFS squashes root to an unprivileged user unless `elasticfilesystem:ClientRootAccess` is
granted, so the task runs as a non-root user instead: the EFS access point makes every
request as that user and creates the model directory owned by it. What holds this
together is one uid in three places (the image, the task definition, the access point),
checked here, and what it buys is checked too: the pull worker takes its lock in a
directory made the way the access point makes it, as that user."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from .cfn import resolve
from .conftest import ROOT

SERVICE = ROOT / "ollama_service"


def dockerfile_ids() -> tuple[str, str, str]:
    text = (SERVICE / "Dockerfile").read_text()
    uid = re.search(r"^ARG OLLAMA_UID=(\d+)$", text, re.MULTILINE)
    gid = re.search(r"^ARG OLLAMA_GID=(\d+)$", text, re.MULTILINE)
    home = re.search(r"HOME=(\S+)", text)
    assert uid and gid and home, "the Dockerfile names the user's uid, gid and HOME"
    # The image's last USER is that user (the container starts as it).
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users and users[-1] == "${OLLAMA_UID}:${OLLAMA_GID}", users
    return uid.group(1), gid.group(1), home.group(1)


def access_point(template: dict[str, Any]) -> dict[str, Any]:
    return resolve(template, template["Resources"]["ModelAccessPoint"]["Properties"], {})


def container(template: dict[str, Any]) -> dict[str, Any]:
    (found,) = template["Resources"]["OllamaTaskDefinition"]["Properties"]["ContainerDefinitions"]
    return found


def find_in_map(template: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and "Fn::FindInMap" in node:
        table, key, field = node["Fn::FindInMap"]
        return template["Mappings"][table][key][field]
    return node


def test_the_access_point_writes_as_a_non_root_user_and_creates_the_directory_for_it(
        template: dict[str, Any]) -> None:
    ap = access_point(template)
    uid, gid = (str(find_in_map(template, ap["PosixUser"][k])) for k in ("Uid", "Gid"))
    assert uid != "0" and gid != "0", "root is squashed by EFS without ClientRootAccess"
    creation = ap["RootDirectory"]["CreationInfo"]
    assert (str(find_in_map(template, creation["OwnerUid"])), str(find_in_map(template, creation["OwnerGid"]))) \
        == (uid, gid)
    assert int(creation["Permissions"], 8) & 0o700 == 0o700  # the owner may write


def test_the_image_and_the_task_run_as_the_access_points_user(template: dict[str, Any]) -> None:
    ap = access_point(template)
    uid, gid = (str(find_in_map(template, ap["PosixUser"][k])) for k in ("Uid", "Gid"))
    assert dockerfile_ids()[:2] == (uid, gid)
    user = container(template)["User"]["Fn::Sub"]
    text, variables = user
    assert text.replace("${Uid}", str(find_in_map(template, variables["Uid"]))) \
        .replace("${Gid}", str(find_in_map(template, variables["Gid"]))) == f"{uid}:{gid}"


def test_ollamas_home_is_writable_under_a_read_only_root(template: dict[str, Any]) -> None:
    """`ollama serve` writes its key pair to $HOME/.ollama at start."""
    home = dockerfile_ids()[2]
    assert home == template["Mappings"]["Constants"]["Ollama"]["Home"]
    c = container(template)
    assert c["ReadonlyRootFilesystem"] is True
    tmpfs = []
    for mount in c["LinuxParameters"]["Tmpfs"]:
        path = mount["ContainerPath"]
        if isinstance(path, dict):
            text, variables = path["Fn::Sub"]
            path = text.replace("${Home}", str(find_in_map(template, variables["Home"])))
        tmpfs.append(path)
    assert f"{home}/.ollama" in tmpfs and "/tmp" in tmpfs


LOCK = """
import sys
from omnichat_pull.lock import StoreLock
lock = StoreLock(sys.argv[1] + "/.omnichat-pull.lock")
try:
    print("held" if lock.try_acquire() else "busy")
except PermissionError:
    print("denied")
"""


def take_lock_as(uid: int, gid: int, store: Path) -> str:
    # The system Python: the project's venv may sit under root's private home.
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
    result = subprocess.run([python, "-c", LOCK, str(store)], user=uid, group=gid, extra_groups=[],
                            cwd=SERVICE, env={"PYTHONPATH": str(SERVICE), "PATH": os.environ.get("PATH", "")},
                            capture_output=True, text=True, timeout=60, check=False)
    return result.stdout.strip() or result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="creating files owned by another user needs root")
def test_the_pull_worker_locks_the_store_as_the_access_points_user(template: dict[str, Any]) -> None:
    """The model directory as EFS creates it (owner and mode from CreationInfo); the worker
    as the image runs it. Before the fix the directory was root's 0755 and the task's
    requests arrived squashed to an unprivileged user: that is the `denied` case."""
    ap = access_point(template)
    uid = int(find_in_map(template, ap["PosixUser"]["Uid"]))
    gid = int(find_in_map(template, ap["PosixUser"]["Gid"]))
    creation = ap["RootDirectory"]["CreationInfo"]
    with tempfile.TemporaryDirectory(prefix="omnichat-efs-") as mount:  # pytest's tmp_path is root's only
        Path(mount).chmod(0o755)
        check_store(Path(mount) / "ollama-models", uid, gid, creation, template)


def check_store(store: Path, uid: int, gid: int, creation: dict[str, Any], template: dict[str, Any]) -> None:
    store.mkdir(mode=int(creation["Permissions"], 8))
    os.chown(store, int(find_in_map(template, creation["OwnerUid"])), int(find_in_map(template, creation["OwnerGid"])))

    assert take_lock_as(uid, gid, store) == "held"
    assert (store / ".omnichat-pull.lock").stat().st_uid == uid
    squashed = 65534  # what EFS makes of root without ClientRootAccess
    os.chown(store, 0, 0)
    (store / ".omnichat-pull.lock").unlink()
    assert take_lock_as(squashed, squashed, store) == "denied"

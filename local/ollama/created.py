"""`POST /api/create`: a model made from another with a system prompt and parameters,
as Ollama's current API takes it (`{"model", "from", "system"?, "parameters"?, "stream"?}`).

A created model shares its base's weights: only a small manifest is written, under
`<models_dir>/.created/<name>/<tag>.json` (the GGUF store ignores it: it has no file).
Created from a created model, it is flattened onto the first base, the new system prompt
and parameters over the old. At generation the model's system prompt is used when the
request brings none, and its parameters are defaults under the request's `options`
(generation.py), as Ollama does. What this server cannot build (`files`, `adapters`,
`quantize`, `template`, `messages`) is a 400 that says so."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from local.models import _now_rfc3339, _write_json_atomic, normalize_name

from .schemas import BadRequest, Options, _Body

SCHEMA = 1
FOLDER = ".created"

# Ollama's parameters and their JSON types; an unknown name or a wrong type is a 400.
NUMBER, INTEGER, BOOLEAN = (int, float), (int,), (bool,)
PARAMETERS: dict[str, tuple[type, ...]] = {
    "temperature": NUMBER, "top_p": NUMBER, "top_k": INTEGER, "min_p": NUMBER, "typical_p": NUMBER,
    "num_predict": INTEGER, "num_ctx": INTEGER, "num_keep": INTEGER, "seed": INTEGER, "repeat_penalty": NUMBER,
    "repeat_last_n": INTEGER, "presence_penalty": NUMBER, "frequency_penalty": NUMBER, "mirostat": INTEGER,
    "mirostat_eta": NUMBER, "mirostat_tau": NUMBER, "penalize_newline": BOOLEAN, "num_batch": INTEGER,
    "num_gpu": INTEGER, "num_thread": INTEGER, "use_mmap": BOOLEAN, "stop": (list, str),
}


class CreateBody(_Body):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: str = Field(default="", alias="from")
    system: str | None = None
    parameters: dict[str, Any] | None = None
    template: str | None = None
    license: str | list[str] | None = None
    messages: list[Any] | None = None
    files: dict[str, str] | None = None
    adapters: dict[str, str] | None = None
    quantize: str | None = None
    stream: bool = True


@dataclass(frozen=True)
class Created:
    name: str
    base: str  # a GGUF or built-in model, never another created one
    system: str
    parameters: dict[str, Any]
    license: str
    modified_at: str
    digest: str  # hex


def checked_parameters(given: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (given or {}).items():
        kinds = PARAMETERS.get(name)
        if kinds is None:
            raise BadRequest(f"unknown parameter '{name}'")
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise BadRequest(f"invalid value for parameter '{name}': {json.dumps(value)[:40]}")
        if name == "stop":
            value = [value] if isinstance(value, str) else value
            if not all(isinstance(s, str) and s for s in value):
                raise BadRequest("invalid value for parameter 'stop': a list of non-empty strings")
        out[name] = value
    return out


def refuse_unsupported(body: CreateBody) -> None:
    if body.files or body.adapters or body.quantize:
        raise BadRequest("creating from files, adapters or with quantize is not supported by this server: use from")
    if not body.from_:
        raise BadRequest("neither 'from' or 'files' was specified")
    for field, value in {"template": body.template, "messages": body.messages}.items():
        if value:
            raise BadRequest(f"{field} is not supported by this server")


class CreatedStore:
    def __init__(self, models_dir: Path) -> None:
        self.root = Path(models_dir) / FOLDER

    def _path(self, name: str) -> Path:
        base, tag = normalize_name(name).rsplit(":", 1)
        return self.root.joinpath(*base.split("/")) / f"{tag}.json"

    def get(self, name: str) -> Created | None:
        return self._load(self._path(name))

    def list(self) -> list[Created]:
        if not self.root.is_dir():
            return []
        return [c for c in (self._load(p) for p in sorted(self.root.rglob("*.json"))) if c is not None]

    def save(self, name: str, base: str, system: str, parameters: dict[str, Any], license: str) -> Created:
        content = {"from": base, "system": system, "parameters": parameters, "license": license}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        data = {"schema": SCHEMA, "name": normalize_name(name), **content, "modified_at": _now_rfc3339(),
                "digest": digest}
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(path, data)
        created = self._load(path)
        assert created is not None
        return created

    def delete(self, name: str) -> bool:
        path = self._path(name)
        if not path.is_file():
            return False
        path.unlink()
        return True

    @staticmethod
    def _load(path: Path) -> Created | None:
        try:
            data = json.loads(path.read_text())
            return Created(name=data["name"], base=data["from"], system=str(data.get("system") or ""),
                           parameters=dict(data.get("parameters") or {}), license=str(data.get("license") or ""),
                           modified_at=data["modified_at"], digest=data["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not one of ours, or half-written by hand


def with_defaults(options: Options, parameters: dict[str, Any]) -> Options:
    """A request's options over a created model's parameters (the request wins)."""
    if not parameters:
        return options
    return Options.model_validate({**parameters, **options.model_dump(exclude_none=True)})

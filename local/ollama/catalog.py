"""What the server can serve: GGUF models from the models directory (the real path), plus
any built-in models it was started with (the deterministic test model, see testmodel.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from local.embedding_engine import LlamaEmbedder, is_embedding_model, trained_context
from local.engines import Engine, LlamaEngine
from local.models import LocalModel, ModelStore, normalize_name

from . import gguf
from .created import Created, CreatedStore

EngineLoader = Callable[[], Engine]


@dataclass(frozen=True)
class ServedModel:
    name: str  # normalized `<name>:<tag>`
    size: int
    digest: str  # hex, without "sha256:"
    modified_at: str  # RFC 3339
    details: dict[str, Any]
    load: EngineLoader
    context_length: int
    path: Path | None = None  # the GGUF file; None for built-in models
    builtin: bool = False
    capabilities: tuple[str, ...] = ("completion",)
    show: dict[str, Any] = field(default_factory=dict)  # extra /api/show fields of built-ins
    # A model made with /api/create (created.py): its base, and what it adds to it.
    parent: str | None = None
    system: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    def tag_entry(self) -> dict[str, Any]:
        """This model as one entry of `/api/tags`."""
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": self.modified_at,
            "size": self.size,
            "digest": self.digest,
            "details": self.details,
        }


@dataclass(frozen=True)
class LlamaSettings:
    num_ctx: int = 4096  # OLLAMA_CONTEXT_LENGTH
    num_threads: int | None = None  # None: llama-cpp-python's default


class Catalog:
    """Models by name. GGUF models are re-read from disk on every look-up, so a model
    pulled by another process sharing the directory (as on EFS) shows up at once."""

    def __init__(self, store: ModelStore, llama: LlamaSettings, builtins: tuple[ServedModel, ...] = ()) -> None:
        self.store = store
        self.llama = llama
        self.builtins = {m.name: m for m in builtins}
        self.created = CreatedStore(store.root)
        self.lock = threading.Lock()  # serializes deletes with pulls in this process

    def get(self, name: str) -> ServedModel | None:
        name = normalize_name(name)
        found = self.weights(name)
        if found is not None:
            return found
        made = self.created.get(name)
        return self._made(made) if made else None

    def weights(self, name: str) -> ServedModel | None:
        """A model with weights of its own (built in or GGUF), not a created one."""
        name = normalize_name(name)
        if name in self.builtins:
            return self.builtins[name]
        local = self.store.get(name)
        return self._served(local) if local else None

    def list(self) -> list[ServedModel]:
        served = list(self.builtins.values()) + [self._served(m) for m in self.store.list()]
        served += [m for m in map(self._made, self.created.list()) if m is not None]
        return sorted(served, key=lambda m: m.modified_at, reverse=True)

    def delete(self, name: str) -> bool:
        with self.lock:
            return self.created.delete(name) or self.store.delete(name)

    def _made(self, made: Created) -> ServedModel | None:
        """A created model as its base with its own name, system prompt and parameters; none
        once its base is gone."""
        base = self.weights(made.base)
        if base is None:
            return None
        return replace(base, name=made.name, digest=made.digest, modified_at=made.modified_at, builtin=False,
                       details={**base.details, "parent_model": base.name}, parent=base.name, system=made.system,
                       parameters=made.parameters, show={**base.show, "license": made.license or
                                                         base.show.get("license", "")})

    def _served(self, model: LocalModel) -> ServedModel:
        settings = self.llama
        try:
            meta = gguf.read_metadata(model.path)  # the header only, cached per file version
        except (OSError, gguf.GGUFError):
            meta = {}  # a broken file fails at load, with llama.cpp's reason
        if is_embedding_model(meta):  # embeds only, within the context it was trained for
            n_ctx = min(settings.num_ctx, trained_context(meta) or settings.num_ctx)

            def load() -> Engine:
                return LlamaEmbedder(model.path, n_ctx=n_ctx, n_threads=settings.num_threads, name=model.name)

            capabilities: tuple[str, ...] = ("embedding",)
        else:
            n_ctx = settings.num_ctx

            def load() -> Engine:
                return LlamaEngine(model.path, n_ctx=n_ctx, n_threads=settings.num_threads, name=model.name)

            capabilities = ("completion",)
        return ServedModel(
            name=model.name,
            size=model.size,
            digest=model.digest_hex,
            modified_at=model.modified_at,
            details=model.details,
            load=load,
            context_length=n_ctx,
            path=model.path,
            capabilities=capabilities,
        )


def show(model: ServedModel) -> dict[str, Any]:
    """The body of `/api/show`: what Ollama tells about a model."""
    body = _show_weights(model)
    if model.parent is None:
        return body
    lines = [line for line in body["parameters"].splitlines() if line]
    for name, value in model.parameters.items():
        for one in value if isinstance(value, list) else [value]:
            lines.append(f"{name} {json.dumps(one)}")
    modelfile = f"# Modelfile generated by the OmniChat Ollama-compatible server\nFROM {model.parent}\n"
    if model.system:
        modelfile += f'SYSTEM """{model.system}"""\n'
    modelfile += "".join(f"PARAMETER {line}\n" for line in lines)
    return {**body, "modelfile": modelfile, "parameters": "\n".join(lines), "system": model.system}


def _show_weights(model: ServedModel) -> dict[str, Any]:
    if model.path is None:
        return {
            "modelfile": f"# built-in model {model.name}\n",
            "parameters": "",
            "template": "",
            "details": model.details,
            "model_info": {},
            "capabilities": list(model.capabilities),
            "modified_at": model.modified_at,
            **model.show,
        }
    meta = gguf.read_metadata(model.path)
    template = str(meta.get("tokenizer.chat_template") or "")
    stops = _stop_tokens(meta)
    parameters = "\n".join(f'stop "{s}"' for s in stops)
    modelfile = (
        f"# Modelfile generated by the OmniChat Ollama-compatible server\n"
        f"FROM {model.path.resolve()}\n"
        f'TEMPLATE """{template}"""\n' + "".join(f"PARAMETER {line}\n" for line in parameters.splitlines())
    )
    # Long arrays (the tokenizer's vocabulary) come back as None, as in Ollama's non-verbose show.
    info = {k: v for k, v in meta.items() if k != "tokenizer.chat_template"}
    return {
        "license": str(meta.get("general.license", "")),
        "modelfile": modelfile,
        "parameters": parameters,
        "template": template,
        "details": model.details,
        "model_info": info,
        "capabilities": list(model.capabilities),
        "modified_at": model.modified_at,
    }


def _stop_tokens(meta: dict[str, Any]) -> list[str]:
    """The end-of-turn marker from the chat template, the one stop word Ollama lists."""
    template = str(meta.get("tokenizer.chat_template") or "")
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "</s>"):
        if marker in template:
            return [marker]
    return []

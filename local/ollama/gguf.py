"""Read the key/value metadata at the head of a GGUF file, without loading the model.

`/api/show` needs the chat template and the model facts (architecture, context length...)
of models that may not be loaded; llama.cpp would map the whole file to tell us. The format
is a small header: magic, version, tensor count, key/value count, then typed key/values
(https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

# value type id -> struct format of a scalar
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
# Arrays longer than this (token lists, merges) are skipped and reported as None, as
# Ollama's /api/show does unless asked to be verbose.
MAX_ARRAY = 64

# general.file_type → Ollama's quantization_level (llama.cpp's LLAMA_FTYPE_*)
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
}  # fmt: skip


class GGUFError(ValueError):
    pass


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise GGUFError("truncated GGUF header")
    return struct.unpack("<" + fmt, data)[0]


def _read_string(f: BinaryIO) -> str:
    length = _read(f, "Q")
    data = f.read(length)
    if len(data) != length:
        raise GGUFError("truncated GGUF string")
    return data.decode("utf-8", errors="replace")


def _read_value(f: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        return _read(f, _SCALARS[kind])
    if kind == _STRING:
        return _read_string(f)
    if kind == _ARRAY:
        item_kind, count = _read(f, "I"), _read(f, "Q")
        if count <= MAX_ARRAY:
            return [_read_value(f, item_kind) for _ in range(count)]
        if item_kind in _SCALARS:  # fixed size: jump over it
            f.seek(count * struct.calcsize(_SCALARS[item_kind]), 1)
        else:
            for _ in range(count):
                _read_value(f, item_kind)
        return None
    raise GGUFError(f"unknown GGUF value type {kind}")


def read_metadata(path: Path | str) -> dict[str, Any]:
    """All key/values of a GGUF file; long arrays come back as None."""
    p = Path(path)
    stat = p.stat()
    return dict(_cached(str(p), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=32)
def _cached(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, Any], ...]:
    with open(path, "rb", buffering=1 << 16) as f:
        if f.read(4) != b"GGUF":
            raise GGUFError(f"{path} is not a GGUF file")
        version = _read(f, "I")
        if version < 2:
            raise GGUFError(f"GGUF version {version} is not supported")
        _tensors, count = _read(f, "Q"), _read(f, "Q")
        items = []
        for _ in range(count):
            key = _read_string(f)
            items.append((key, _read_value(f, _read(f, "I"))))
    return tuple(items)


def details_from_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Ollama's `details` object from GGUF metadata."""
    arch = str(meta.get("general.architecture", ""))
    size_label = meta.get("general.size_label") or ""
    if not size_label and meta.get("general.parameter_count"):
        size_label = f"{meta['general.parameter_count'] / 1e6:.0f}M"
    return {
        "parent_model": "",
        "format": "gguf",
        "family": arch,
        "families": [arch] if arch else None,
        "parameter_size": str(size_label),
        "quantization_level": FILE_TYPES.get(int(meta.get("general.file_type", -1)), "unknown"),
    }

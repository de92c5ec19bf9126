"""`/v1/embeddings` with the `openai` SDK, against the local Ollama server's `/api/embed`
and its deterministic test model (the expected vectors come from the server's own
function), and against the Bedrock emulator's InvokeModel for Titan Text Embeddings V2;
a Bedrock chat model still refuses embeddings."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from local.bedrock.invoke import normalise, resize
from local.engines import deterministic_vector
from local.ollama.testmodel import EMBED_DIMENSIONS, expected_embedding
from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, usage_rows


def float32(vector: list[float]) -> list[float]:
    """The vector as base64 carries it (and as the SDK decodes it): float32 values."""
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])
def test_embeddings_in_both_encodings(oai, db_url, user, encoding_format):
    options = {} if encoding_format is None else {"encoding_format": encoding_format}
    r = oai.embeddings.create(model=OLLAMA_MODEL, input=["the cat sat", "on the mat"], **options)
    assert r.object == "list" and r.model == OLLAMA_MODEL
    assert [d.index for d in r.data] == [0, 1]
    for got, text in zip(r.data, ["the cat sat", "on the mat"], strict=True):
        vector = got.embedding
        if encoding_format == "float":  # JSON numbers: the server's values exactly
            assert vector == expected_embedding(text)
            continue
        if encoding_format == "base64":  # asked for explicitly: the SDK hands over the string
            vector = list(struct.unpack(f"<{EMBED_DIMENSIONS}f", base64.b64decode(vector)))
        assert vector == float32(expected_embedding(text))  # (by default the SDK decodes)
    assert r.usage.prompt_tokens == 6 == r.usage.total_tokens
    [row] = usage_rows(db_url)
    assert (row.source, row.outcome, row.input_tokens, row.api_key_id) == ("gateway", "complete", 6, user.key_id)


def test_single_string_input_and_dimensions(oai):
    r = oai.embeddings.create(model=OLLAMA_MODEL, input="hello", encoding_format="float")
    assert len(r.data) == 1 and r.data[0].embedding == expected_embedding("hello")
    assert len(r.data[0].embedding) == EMBED_DIMENSIONS
    cut = oai.embeddings.create(model=OLLAMA_MODEL, input="hello", dimensions=16, encoding_format="float")
    assert cut.data[0].embedding == expected_embedding("hello", 16)


def test_unsupported_inputs_and_models(oai, db_url):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.embeddings.create(model=OLLAMA_MODEL, input=[[1, 2, 3]])
    assert caught.value.param == "input"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.embeddings.create(model=OLLAMA_MODEL, input=[])
    assert caught.value.param == "input"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.embeddings.create(model=BEDROCK_MODEL, input="hello")
    assert "does not support embeddings" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="ollama/no-such-embedder:1b", input="hello")
    # The refused Bedrock call is logged; a model that does not exist made no model call.
    assert [(r.outcome, r.model) for r in usage_rows(db_url)] == [("error", BEDROCK_MODEL)]


TITAN_MODEL = "bedrock/amazon.titan-embed-text-v2:0"


def titan(text: str, dimensions: int = 1024) -> list[float]:
    """What the emulator's Titan V2 answers (the deterministic engine's vector, resized)."""
    return normalise(resize(deterministic_vector(text), dimensions))


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_bedrock_titan_embeddings(oai, db_url, user, backends, encoding_format):
    texts = ["the cat sat", "on the mat", "hello"]
    r = oai.embeddings.create(model=TITAN_MODEL, input=texts, encoding_format=encoding_format)
    assert r.model == TITAN_MODEL and [d.index for d in r.data] == [0, 1, 2]
    for got, text in zip(r.data, texts, strict=True):
        vector = got.embedding
        if encoding_format == "base64":
            vector = list(struct.unpack("<1024f", base64.b64decode(vector)))
            assert vector == float32(titan(text))
        else:
            assert vector == titan(text)
    assert r.usage.prompt_tokens == 7 == r.usage.total_tokens  # inputTextTokenCount, summed
    assert len(backends.emulator.journal.entries("InvokeModel")) == 3  # one text per call
    [row] = usage_rows(db_url)
    assert (row.outcome, row.input_tokens, row.provider) == ("complete", 7, "bedrock")


def test_bedrock_titan_dimensions_and_errors(oai, db_url, backends):
    r = oai.embeddings.create(model=TITAN_MODEL, input="hello", dimensions=256)  # SDK default: base64
    assert len(r.data[0].embedding) == 256 and r.data[0].embedding == float32(titan("hello", 256))
    assert backends.emulator.journal.last("InvokeModel")["body"] == {"inputText": "hello", "dimensions": 256}
    with pytest.raises(openai.BadRequestError) as caught:
        oai.embeddings.create(model=TITAN_MODEL, input="hello", dimensions=100)
    assert "dimensions" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="bedrock/amazon.titan-embed-text-v9:0", input="hello")
    backends.emulator.faults.error("ThrottlingException", times=4, operations=frozenset({"InvokeModel"}))
    with pytest.raises(openai.RateLimitError):
        oai.embeddings.create(model=TITAN_MODEL, input="hello")
    # The unknown model made no model call; the others are logged.
    assert [r.outcome for r in usage_rows(db_url)] == ["complete", "error", "error"]

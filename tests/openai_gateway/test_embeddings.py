"""`/v1/embeddings` with the `openai` SDK, against the local Ollama server's `/api/embed`
and its deterministic test model (the expected vectors come from the server's own
function); the Bedrock provider has no embeddings yet (the emulator has no InvokeModel)
and says so."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

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
    for got, text in zip(r.data, ["the cat sat", "on the mat"]):
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
    assert [r.outcome for r in usage_rows(db_url)] == ["error", "error"]

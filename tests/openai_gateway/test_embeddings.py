"""`/v1/embeddings` with the `openai` SDK. Ollama's `/api/embed` is answered by a thin
stand-in in front of the local server (local/ollama does not serve it, see conftest);
the Bedrock provider has no embeddings yet (the emulator has no InvokeModel) and says so."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, fake_vector, usage_rows


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])
def test_embeddings_in_both_encodings(oai, db_url, user, encoding_format):
    options = {} if encoding_format is None else {"encoding_format": encoding_format}
    r = oai.embeddings.create(model=OLLAMA_MODEL, input=["the cat sat", "on the mat"], **options)
    assert r.object == "list" and r.model == OLLAMA_MODEL
    assert [d.index for d in r.data] == [0, 1]
    for got, text in zip(r.data, ["the cat sat", "on the mat"]):
        vector = got.embedding
        if encoding_format == "base64":  # asked for explicitly: the SDK hands over the string
            vector = list(struct.unpack("<8f", base64.b64decode(vector)))
        assert vector == pytest.approx(fake_vector(text), abs=1e-6)  # (by default the SDK decodes)
    assert r.usage.prompt_tokens == 6 == r.usage.total_tokens
    [row] = usage_rows(db_url)
    assert (row.source, row.outcome, row.input_tokens, row.api_key_id) == ("gateway", "complete", 6, user.key_id)


def test_single_string_input(oai):
    r = oai.embeddings.create(model=OLLAMA_MODEL, input="hello", encoding_format="float")
    assert len(r.data) == 1 and len(r.data[0].embedding) == 8


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

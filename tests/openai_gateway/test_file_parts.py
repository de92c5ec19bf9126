"""/v1 chat completions with OpenAI `file` content parts (openai_compat/files.py), through
the official SDK: an uploaded file by `file_id` (its text, or an image), a file sent inline
as `file_data` (extracted on the fly), and the 400s for everything else. The test model's
`[[echo=1]]` answers with the user turn it was given, so the answer shows the prompt."""

from __future__ import annotations

import base64

import openai
import pytest

from omnichat.db import lite
from omnichat.documents.storage import storage_for
from omnichat.ids import new_id
from omnichat.openai_compat import files
from tests.openai_gateway.conftest import BEDROCK_MODEL, OLLAMA_MODEL, png_1x1

PASSAGE = "The secret harbour codeword is PELICAN-42."


def stored_file(settings, user_id, name, texts=(), *, status="ready", kind="document", content_type="text/plain",
                data=b""):
    file_id, now = new_id(), lite.utcnow()
    key = f"files/{user_id}/{file_id}"
    if data:
        storage_for(settings).put(key, data)

    def work(db):
        db.insert("files", {"id": file_id, "user_id": user_id, "name": name, "kind": kind,
                            "content_type": content_type, "size": len(data), "storage_key": key, "status": status,
                            "progress": 0, "chunk_count": len(texts), "created_at": now, "updated_at": now})
        for i, text in enumerate(texts):
            db.insert("chunks", {"id": new_id(), "file_id": file_id, "ordinal": i, "text": text})

    lite.run(settings.resolved_database_url, work)
    return file_id


def ask(oai, *parts, model=OLLAMA_MODEL):
    return oai.chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is the codeword? [[echo=1]]"}, *parts]}])


def refused(oai, *parts) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(oai, *parts)
    return caught.value


def test_an_uploaded_document_by_file_id_goes_into_the_prompt(oai, user, live_settings):
    file_id = stored_file(live_settings, user.account.id, "harbour.txt", [PASSAGE, "Second passage."])
    answer = ask(oai, {"type": "file", "file": {"file_id": file_id}}).choices[0].message.content
    assert "[File: harbour.txt]" in answer and "PELICAN-42." in answer and "Second passage." in answer


def test_an_uploaded_image_by_file_id_goes_as_an_image(oai, user, live_settings, backends):
    png = png_1x1()
    file_id = stored_file(live_settings, user.account.id, "photo.png", kind="image", content_type="image/png",
                          data=png)
    r = ask(oai, {"type": "file", "file": {"file_id": file_id}}, model=BEDROCK_MODEL)
    assert r.choices[0].finish_reason == "stop"
    content = backends.emulator.journal.last("ConverseStream")["body"]["messages"][0]["content"]
    assert content[1]["image"]["format"] == "png" and base64.b64decode(content[1]["image"]["source"]["bytes"]) == png


@pytest.mark.parametrize("data_url", [False, True])
def test_inline_file_data_is_extracted_on_the_fly(oai, data_url):
    encoded = base64.b64encode(f"# Notes\n\n{PASSAGE}\n".encode()).decode()
    data = f"data:text/markdown;base64,{encoded}" if data_url else encoded
    answer = ask(oai, {"type": "file", "file": {"file_data": data, "filename": "notes.md"}}).choices[0].message.content
    assert "[File: notes.md]" in answer and "PELICAN-42." in answer


def test_files_of_others_unknown_or_not_ready_are_400s(oai, admin, user, live_settings):
    others = stored_file(live_settings, admin.account.id, "admin.txt", [PASSAGE])
    for file_id in (others, "no-such-file"):
        error = refused(oai, {"type": "file", "file": {"file_id": file_id}})
        assert error.code == "file_not_found" and error.param == "messages[0].content[1].file.file_id"
        assert "PELICAN" not in str(error.body)
    pending = stored_file(live_settings, user.account.id, "slow.pdf", status="indexing")
    error = refused(oai, {"type": "file", "file": {"file_id": pending}})
    assert error.code == "file_not_ready" and "slow.pdf" in error.message


@pytest.mark.parametrize("spec, code, param", [
    ({}, "invalid_value", "file"),
    ({"file_id": "x", "file_data": "eA==", "filename": "a.txt"}, "invalid_value", "file"),
    ({"file_data": "eA=="}, "missing_required_parameter", "file.filename"),
    ({"file_data": "not base64!", "filename": "a.txt"}, "invalid_value", "file.file_data"),
    ({"file_data": base64.b64encode(b"\x00\x01\x02\xff" * 50).decode(), "filename": "a.bin"}, "unsupported_file",
     "file.file_data"),
    ({"file_id": 7}, "invalid_type", "file.file_id"),
])
def test_malformed_file_parts_are_400s(oai, spec, code, param):
    error = refused(oai, {"type": "file", "file": spec})
    assert error.code == code and error.param == f"messages[0].content[1].{param}"


def test_a_file_over_the_text_limit_is_refused_not_cut(oai, monkeypatch):
    monkeypatch.setattr(files, "MAX_TEXT_CHARS", 100)
    data = base64.b64encode(("word " * 100).encode()).decode()
    error = refused(oai, {"type": "file", "file": {"file_data": data, "filename": "long.txt"}})
    assert error.code == "file_too_large"

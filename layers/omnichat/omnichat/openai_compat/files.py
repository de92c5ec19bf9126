"""OpenAI `file` content parts in user messages, turned into parts `messages.convert` reads.

- `{"type": "file", "file": {"file_id": "<id>"}}`: a file the caller uploaded (POST
  /api/files). A document must be `ready`: its extracted text (its passages, in order) goes
  into the prompt as a text part; an image becomes an inline image (`image_url` data URL).
- `{"type": "file", "file": {"file_data": "<base64 or data: URL>", "filename": "a.pdf"}}`:
  sniffed and extracted on the fly (documents/sniff.py, extract.py); nothing is stored.

Either way a document's text is at most `MAX_TEXT_CHARS` per file and `MAX_TOTAL_CHARS` per
request, and inline bytes at most the admin's `max_file_bytes`: over, a 400 says so (no
silent truncation). Every refusal is an OpenAI-style 400 naming the part's field.

Imported only for a request that has a file part (the gateway's cold start stays as it is)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from anyio import to_thread

from omnichat.auth.principal import Principal
from omnichat.config import Settings
from omnichat.db import lite

from .errors import invalid

MAX_TEXT_CHARS = 100_000
MAX_TOTAL_CHARS = 200_000
_DATA_URL = re.compile(r"^data:[^,]*?;base64,", re.IGNORECASE)


async def inline_files(settings: Settings, principal: Principal, messages: list[dict[str, Any]]
                       ) -> list[dict[str, Any]]:
    """`messages` with every `file` part of a user message replaced by a text or image part."""
    total = 0
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "user":
            out.append(message)
            continue
        parts: list[Any] = []
        for j, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "file"):
                parts.append(part)
                continue
            where = f"messages[{i}].content[{j}].file"
            made = await _part(settings, principal, part.get("file"), where)
            if made["type"] == "text":
                total += len(made["text"])
                if total > MAX_TOTAL_CHARS:
                    raise invalid(where, f"The files of this request hold more than {MAX_TOTAL_CHARS} characters of "
                                  "text: send fewer or smaller files.", code="file_too_large")
            parts.append(made)
        out.append({**message, "content": parts})
    return out


async def _part(settings: Settings, principal: Principal, spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise invalid(where, f"Invalid type for '{where}': expected an object with 'file_id' or 'file_data'.",
                      code="invalid_type")
    file_id, data = spec.get("file_id"), spec.get("file_data")
    if (file_id is None) == (data is None):
        raise invalid(where, f"'{where}' must have one of 'file_id' or 'file_data'.", code="invalid_value")
    if file_id is not None:
        if not isinstance(file_id, str) or not 0 < len(file_id) <= 36:
            raise invalid(f"{where}.file_id", f"Invalid type for '{where}.file_id': expected a file id.",
                          code="invalid_type")
        return await to_thread.run_sync(_stored, settings, principal, file_id, f"{where}.file_id")
    filename = spec.get("filename")
    if not isinstance(filename, str) or not filename.strip():
        raise invalid(f"{where}.filename", f"Missing required parameter: '{where}.filename' (with 'file_data').",
                      code="missing_required_parameter")
    if not isinstance(data, str):
        raise invalid(f"{where}.file_data", f"Invalid type for '{where}.file_data': expected a base64 string.",
                      code="invalid_type")
    return await to_thread.run_sync(_inline, settings, data, filename, f"{where}.file_data")


def _text_part(name: str, text: str, where: str) -> dict[str, Any]:
    if len(text) > MAX_TEXT_CHARS:
        raise invalid(where, f"The file {name!r} holds {len(text)} characters of text, more than the "
                      f"{MAX_TEXT_CHARS} a request may carry: attach it in a chat (its passages are searched) or "
                      "send a part of it.", code="file_too_large")
    return {"type": "text", "text": f"[File: {name}]\n{text}\n[End of file: {name}]"}


def _image_part(data: bytes, content_type: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:{content_type};base64,{base64.b64encode(data).decode()}"}}


def _stored(settings: Settings, principal: Principal, file_id: str, where: str) -> dict[str, Any]:
    def read(db: lite.Db) -> tuple[Any, list[str]]:
        row = db.execute("SELECT name, kind, status, content_type, storage_key FROM files WHERE id = ? AND user_id = ?",
                         file_id, principal.user_id).fetchone()
        if row is None or row[1] == "image":
            return row, []
        return row, [r[0] for r in db.execute("SELECT text FROM chunks WHERE file_id = ? ORDER BY ordinal",
                                              file_id).fetchall()]

    row, texts = lite.run(settings.resolved_database_url, read)
    if row is None:
        raise invalid(where, f"No such file: {file_id!r}. Upload it with POST /api/files first.",
                      code="file_not_found")
    name, kind, status, content_type, key = row
    if status != "ready":
        raise invalid(where, f"The file {name!r} is not ready yet ({status}): send the request again when it is.",
                      code="file_not_ready")
    if kind == "image":
        from omnichat.documents.storage import storage_for

        return _image_part(storage_for(settings).get(key), content_type or "")
    return _text_part(name, "\n\n".join(texts), where)


def _inline(settings: Settings, data: str, filename: str, where: str) -> dict[str, Any]:
    from omnichat.documents import extract, sniff

    encoded = _DATA_URL.sub("", data, count=1)
    if len(encoded) * 3 // 4 > settings.max_file_bytes:
        raise invalid(where, f"The file is larger than {settings.max_file_bytes} bytes.", code="file_too_large")
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", encoded), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(where, f"Invalid '{where}': the data is not valid base64.", code="invalid_value") from None
    from omnichat.errors import BadRequest

    try:
        name = sniff.clean_name(filename)
    except BadRequest as exc:
        raise invalid(where.replace("file_data", "filename"), exc.message, code="invalid_value") from None
    try:
        sniffed = sniff.sniff(raw, name)
    except sniff.Unsupported as exc:
        raise invalid(where, exc.message, code="unsupported_file") from None
    if sniffed.kind == "image":
        return _image_part(raw, sniffed.content_type)
    try:
        extracted = extract.extract(raw, sniffed.content_type, name=name)
    except extract.ExtractError as exc:
        raise invalid(where, f"The file {name!r} could not be read: {exc.reason}", code="unsupported_file") from None
    return _text_part(name, "\n\n".join(s.text for s in extracted.sections), where)

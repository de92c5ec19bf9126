"""What a file is, from its bytes (never the client's word), and a safe name for it.

The extension only chooses among text types (Markdown, CSV, code...): bytes that are a PDF
are a PDF whatever the name, and an executable named `.pdf` is refused."""

from __future__ import annotations

import io
import json
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Literal

from omnichat.errors import BadRequest

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MARKDOWN, HTML, CSV, TSV, JSON, TEXT = (
    "text/markdown", "text/html", "text/csv", "text/tab-separated-values", "application/json", "text/plain")

# Types extract() reads. Code types are "text/x-<language>" (see CODE_LANGUAGES).
DOCUMENT_TYPES = frozenset({PDF, DOCX, MARKDOWN, HTML, CSV, TSV, JSON, TEXT})
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

SUPPORTED = ("PDF, Word (DOCX), text, Markdown, HTML, CSV, JSON, source code, "
             "or an image (PNG, JPEG, GIF, WebP)")

# Extension → language; the content type is text/x-<language>.
CODE_LANGUAGES: dict[str, str] = {
    "py": "python", "pyi": "python", "js": "javascript", "mjs": "javascript", "cjs": "javascript",
    "jsx": "javascript", "ts": "typescript", "tsx": "typescript", "java": "java", "kt": "kotlin",
    "kts": "kotlin", "scala": "scala", "go": "go", "rs": "rust", "c": "c", "h": "c", "cpp": "c++",
    "cc": "c++", "cxx": "c++", "hpp": "c++", "hh": "c++", "cs": "csharp", "rb": "ruby", "php": "php",
    "swift": "swift", "m": "objective-c", "sh": "shell", "bash": "shell", "zsh": "shell", "ps1": "powershell",
    "sql": "sql", "yaml": "yaml", "yml": "yaml", "toml": "toml", "ini": "ini", "cfg": "ini", "css": "css",
    "scss": "scss", "less": "less", "xml": "xml", "svg": "xml", "vue": "vue", "svelte": "svelte",
    "lua": "lua", "pl": "perl", "r": "r", "dart": "dart", "ex": "elixir", "exs": "elixir", "erl": "erlang",
    "hs": "haskell", "clj": "clojure", "tf": "terraform", "proto": "protobuf", "graphql": "graphql",
    "dockerfile": "dockerfile", "makefile": "makefile", "mk": "makefile", "gradle": "groovy", "groovy": "groovy",
}
_CODE_NAMES = {"dockerfile": "dockerfile", "makefile": "makefile"}  # files known by their whole name
_TEXT_EXTENSIONS = {
    "md": MARKDOWN, "markdown": MARKDOWN, "mdown": MARKDOWN, "mkd": MARKDOWN,
    "html": HTML, "htm": HTML, "xhtml": HTML, "csv": CSV, "tsv": TSV, "json": JSON,
}
_HTML_START = re.compile(r"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)

# Refused with a word on what the file seems to be; anything else gets the generic refusal.
_KNOWN_BINARIES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program"), (b"\x7fELF", "a program"), (b"\xd0\xcf\x11\xe0", "an old Office file (DOC, XLS)"),
    (b"Rar!", "a RAR archive"), (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
)


class Unsupported(BadRequest):
    """The bytes are no type we read (415 unsupported_type), or there are none (400 empty_file)."""

    status, code = 415, "unsupported_type"


@dataclass(frozen=True)
class Sniffed:
    kind: Literal["document", "image"]
    content_type: str
    language: str | None = None  # source code: "python", "go", ...


def sniff(data: bytes, filename: str) -> Sniffed:
    """The file's kind and content type. Raises Unsupported."""
    if not data:
        raise Unsupported("The file is empty.", code="empty_file", status=400)
    head = data[:64]
    image = _image_type(head)
    if image:
        return Sniffed("image", image)
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return Sniffed("document", PDF)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Sniffed("document", _zip_type(data))
    text = decode_text(data)
    if text is None:
        if _looks_like_text(data[:4096]):  # Latin-1, Windows-1252...: what to do is simple
            raise Unsupported("The text is not in UTF-8: save it as UTF-8 and upload it again.")
        raise Unsupported(_refusal(head))
    return _text_type(text, _extension(filename))


def decode_text(data: bytes) -> str | None:
    """The bytes as text: UTF-8 (BOM allowed) or UTF-16 with its BOM, without NUL characters;
    None when they are not text. extract() decodes with this too."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    return text.removeprefix("\ufeff")


_BINARY_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


def _looks_like_text(head: bytes) -> bool:
    return not any(b in _BINARY_BYTES for b in head) and not _known_binary(head)


def _known_binary(head: bytes) -> str | None:
    return next((what for magic, what in _KNOWN_BINARIES if head.startswith(magic)), None)


def _image_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except Exception:  # BadZipFile, NotImplementedError (an unknown version), struct.error...
        raise Unsupported("The file looks like a ZIP archive but could not be read.") from None
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        raise Unsupported(f"Spreadsheets (XLSX) are not supported. Upload {SUPPORTED}.")
    if "ppt/presentation.xml" in names:
        raise Unsupported(f"Presentations (PPTX) are not supported. Upload {SUPPORTED}.")
    raise Unsupported(f"ZIP archives are not supported. Upload {SUPPORTED}.")


def _refusal(head: bytes) -> str:
    what = _known_binary(head)
    if what:
        return f"This file is {what}, which is not supported. Upload {SUPPORTED}."
    return f"This type of file is not supported. Upload {SUPPORTED}."


def _extension(filename: str) -> str:
    base = re.split(r"[\\/]", filename)[-1].strip().lower()
    if base in _CODE_NAMES:
        return base
    return os.path.splitext(base)[1].lstrip(".")


def _text_type(text: str, ext: str) -> Sniffed:
    by_ext = _TEXT_EXTENSIONS.get(ext)
    if by_ext == JSON:
        _check_json(text)
        return Sniffed("document", JSON)
    if by_ext:
        return Sniffed("document", by_ext)
    language = CODE_LANGUAGES.get(ext)
    if language:
        return Sniffed("document", f"text/x-{language}", language)
    if _HTML_START.match(text[:4096]):
        return Sniffed("document", HTML)
    return Sniffed("document", TEXT)


def _check_json(text: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        raise Unsupported(f"The file is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}).") from None
    except (ValueError, RecursionError):  # too deep, or an integer too long to convert
        raise Unsupported("The file is not JSON we can read (nested too deeply or numbers too long).") from None


def is_code(content_type: str) -> bool:
    return content_type.startswith("text/x-")


# Names ------------------------------------------------------------------------------------

MAX_NAME = 255
# Bidirectional embeddings, overrides and isolates, and the marks: they can make "gpj.exe"
# show as "exe.jpg".
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"))


def clean_name(name: str) -> str:
    """A file name safe to store and show: no directories, control or bidi characters, at most
    255 characters (the extension kept). Raises BadRequest (invalid_file_name)."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFC", base).translate(_BIDI)
    base = "".join(ch for ch in base if unicodedata.category(ch) != "Cc").strip()
    if base in ("", ".", ".."):
        raise BadRequest("The file needs a name.", code="invalid_file_name")
    if len(base) > MAX_NAME:
        stem, ext = os.path.splitext(base)
        if not stem or len(ext) > 16:  # no real extension to keep
            stem, ext = base, ""
        base = stem[:MAX_NAME - len(ext)].rstrip() + ext
    return base

"""Text out of a stored file, as sections that keep their page (PDF) or heading path.

extract() raises ExtractError and nothing else: its reason is a sentence for the person, shown
as the file's failure. The format readers live in extract_docx.py and extract_text.py,
imported on first use (pypdf and defusedxml stay off every other path)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from omnichat.documents import sniff
from omnichat.errors import FailureReason

logger = logging.getLogger(__name__)


class ExtractError(FailureReason):
    """The file cannot be read; `reason` says why, for the person."""


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None  # from 1 (PDF)
    heading: str | None = None  # the heading path, "Guide > Install"


@dataclass(frozen=True)
class Extracted:
    sections: list[Section]
    pages: int | None = None


NO_TEXT = "The file holds no text."


def extract(data: bytes, content_type: str, *, name: str | None = None) -> Extracted:
    """The file's text. `name` (the clean file name) heads source code's sections."""
    try:
        extracted = _extract(data, content_type, name)
    except ExtractError:
        raise
    except MemoryError:
        raise ExtractError("The file is too large to read.") from None
    except RecursionError:
        raise ExtractError("The file is nested too deeply to read.") from None
    except Exception as e:  # a reader's bug or a file no rule foresaw: still a clear failure
        logger.warning("extracting %s failed: %s: %s", content_type, type(e).__name__, str(e)[:300])
        raise ExtractError("The file could not be read.") from e
    if not extracted.sections:
        raise ExtractError(NO_TEXT)
    return extracted


def _extract(data: bytes, content_type: str, name: str | None) -> Extracted:
    if content_type == sniff.PDF:
        return _pdf(data)
    if content_type == sniff.DOCX:
        from omnichat.documents.extract_docx import docx
        return docx(data)
    if content_type in sniff.IMAGE_TYPES:
        raise ExtractError("Images are not indexed: attach them to a message for a vision model.")
    text = sniff.decode_text(data)
    if text is None:
        raise ExtractError("The file is not text in UTF-8 or UTF-16.")
    text = clean_text(text)
    from omnichat.documents.extract_text import csv_rows, html, json_doc, markdown
    readers: dict[str, Callable[[str], list[Section]]] = {
        sniff.MARKDOWN: markdown, sniff.HTML: html, sniff.CSV: csv_rows,
        sniff.TSV: lambda t: csv_rows(t, delimiter="\t"), sniff.JSON: json_doc,
    }
    reader = readers.get(content_type)
    if reader:
        return Extracted(reader(text))
    if sniff.is_code(content_type):
        heading = name or content_type.removeprefix("text/x-")
        return Extracted([Section(text, None, heading)] if text.strip() else [])
    if content_type == sniff.TEXT:
        return Extracted([Section(text)] if text.strip() else [])
    raise ExtractError("This type of file holds no text to index.")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")
_MANY_BLANKS = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Unix newlines, no control characters, no trailing spaces or runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return _MANY_BLANKS.sub("\n\n", text).strip()


# PDF --------------------------------------------------------------------------------------

def _pdf(data: bytes) -> Extracted:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ExtractError("The PDF is encrypted: save a copy without a password and upload that.")
        pages = reader.pages
        count = len(pages)
    except ExtractError:
        raise
    except Exception as e:  # pypdf raises many types on broken files; any of them means the same
        logger.info("pdf unreadable: %s: %s", type(e).__name__, str(e)[:300])
        raise ExtractError("The PDF could not be read (is it damaged?).") from None
    sections: list[Section] = []
    failed = 0
    for number in range(1, count + 1):
        try:  # one damaged page loses that page, not the document
            text = clean_text(pages[number - 1].extract_text())
        except Exception as e:
            logger.info("pdf page %d unreadable: %s: %s", number, type(e).__name__, str(e)[:300])
            failed += 1
            continue
        if text:
            sections.append(Section(text, number, None))
    if not sections:
        if count and failed == count:
            raise ExtractError("The PDF could not be read (is it damaged?).")
        raise ExtractError("The PDF holds no text: it may be scanned images, which cannot be searched.")
    return Extracted(sections, count)

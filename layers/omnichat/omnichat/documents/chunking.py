"""Sections into passages by structure: a chunk never spans two pages or two headings;
paragraphs are packed up to the target size; a paragraph over the maximum is cut at sentence
ends, then line ends, then spaces (and, for one endless word, anywhere). Deterministic."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from omnichat.documents.extract import Section


@dataclass(frozen=True)
class Chunk:
    ordinal: int  # from 0, in document order
    text: str
    page: int | None
    section: str | None  # the heading path


_PARAGRAPHS = re.compile(r"\n[ \t]*\n")
# After . ! ? or …, and any closing quote or bracket: the space goes, the punctuation stays.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+")


def chunk(sections: Sequence[Section], target_chars: int = 1000, max_chars: int = 1500) -> list[Chunk]:
    if target_chars < 1 or max_chars < target_chars:
        raise ValueError("need 1 <= target_chars <= max_chars")
    chunks: list[Chunk] = []
    for (page, heading), paragraphs in _groups(sections):
        for text in _pack(paragraphs, target_chars, max_chars, "\n\n"):
            chunks.append(Chunk(len(chunks), text, page, heading))
    return chunks


def _groups(sections: Sequence[Section]) -> Iterator[tuple[tuple[int | None, str | None], list[str]]]:
    """Consecutive sections with the same page and heading, as one list of paragraphs."""
    key: tuple[int | None, str | None] | None = None
    paragraphs: list[str] = []
    for section in sections:
        here = (section.page, section.heading)
        if here != key:
            if key is not None and paragraphs:
                yield key, paragraphs
            key, paragraphs = here, []
        paragraphs.extend(p.strip() for p in _PARAGRAPHS.split(section.text) if p.strip())
    if key is not None and paragraphs:
        yield key, paragraphs


def _pack(pieces: list[str], target: int, limit: int, joiner: str) -> Iterator[str]:
    """Pieces joined up to `target` characters; a piece over `limit` is split finer first."""
    current: list[str] = []
    size = 0
    for piece in pieces:
        if len(piece) > limit:
            if current:
                yield joiner.join(current)
                current, size = [], 0
            yield from _split(piece, target, limit)
            continue
        if current and size + len(joiner) + len(piece) > target:
            yield joiner.join(current)
            current, size = [], 0
        size += (len(joiner) if current else 0) + len(piece)
        current.append(piece)
    if current:
        yield joiner.join(current)


def _split(text: str, target: int, limit: int) -> Iterator[str]:
    """One paragraph over `limit`, as pieces of at most `limit` characters."""
    for pattern, joiner in ((_SENTENCE_END, " "), (re.compile(r"\s*\n\s*"), "\n"), (re.compile(r"\s+"), " ")):
        parts = [p for p in pattern.split(text) if p.strip()]
        if len(parts) > 1:
            yield from _pack([p.strip() for p in parts], target, limit, joiner)
            return
    for start in range(0, len(text), limit):  # one "word" longer than a chunk (base64, a URL...)
        piece = text[start:start + limit].strip()
        if piece:
            yield piece

"""Word (DOCX) text: paragraphs under their heading path, tables as rows.

A DOCX is a ZIP: its sizes are checked before anything is inflated, and every read is capped,
so a small file that inflates to gigabytes is refused cheaply. The XML is parsed by defusedxml
(no entity expansion, no external entities) and streamed, element by element."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import IO
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring, iterparse  # type: ignore[import-untyped]

from omnichat.documents.extract import Extracted, ExtractError, Section, clean_text

MAX_MEMBERS = 5000
MAX_TOTAL_BYTES = 50 << 20  # all members, inflated
MAX_RATIO = 100  # inflated / compressed, for members over RATIO_FLOOR
RATIO_FLOOR = 1 << 20
BOMB = "The file expands too much when unpacked (a zip bomb?)."
UNREADABLE = "The Word document could not be read (is it damaged?)."
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def docx(data: bytes) -> Extracted:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile, NotImplementedError (an unknown version), struct.error...
        raise ExtractError(UNREADABLE) from None
    with zf:
        _check_sizes(zf)
        try:
            document = _read(zf, "word/document.xml")
            styles = _read(zf, "word/styles.xml") if "word/styles.xml" in zf.namelist() else b""
        except ExtractError:
            raise
        except Exception:  # missing, bad CRC, encrypted, an unknown compression...
            raise ExtractError(UNREADABLE) from None
    try:
        levels = _heading_styles(styles) if styles else {}
        return Extracted(list(_sections(io.BytesIO(document), levels)))
    except ExtractError:
        raise
    except Exception:  # ParseError, defusedxml's EntitiesForbidden/DTDForbidden...
        raise ExtractError(UNREADABLE) from None


def _check_sizes(zf: zipfile.ZipFile) -> None:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        raise ExtractError(BOMB)
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ExtractError(BOMB)


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    """The member's bytes, capped whatever its header claims."""
    out = bytearray()
    with zf.open(name) as f:
        while chunk := f.read(1 << 20):
            out += chunk
            if len(out) > MAX_TOTAL_BYTES:
                raise ExtractError(BOMB)
    return bytes(out)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _attr(el: Element, name: str) -> str | None:
    for key, value in el.attrib.items():
        if _local(key) == name:
            return value
    return None


def _child(el: Element, name: str) -> Element | None:
    for sub in el:
        if _local(sub.tag) == name:
            return sub
    return None


def _heading_styles(styles: bytes) -> dict[str, int]:
    """styleId → heading level, from the style's name ("heading 2", "Title") or outline level."""
    levels: dict[str, int] = {}
    for style in fromstring(styles).iter():
        if _local(style.tag) != "style":
            continue
        style_id = _attr(style, "styleId")
        name_el = _child(style, "name")
        name = (_attr(name_el, "val") or "") if name_el is not None else ""
        level = _level_of(name, style)
        if style_id and level:
            levels[style_id] = level
    return levels


def _level_of(name: str, el: Element) -> int | None:
    if name.strip().lower() == "title":
        return 1
    m = _HEADING_STYLE.match(name.strip())
    if m and m.group(1) != "0":
        return int(m.group(1))
    ppr = _child(el, "pPr")
    outline = _child(ppr, "outlineLvl") if ppr is not None else None
    value = _attr(outline, "val") if outline is not None else None
    if value and value.isdigit() and int(value) < 9:
        return int(value) + 1
    return None


def _text(el: Element) -> str:
    parts: list[str] = []
    for node in el.iter():
        tag = _local(node.tag)
        if tag == "t" and node.text:  # w:delText (deleted) and w:instrText (field codes) are not read
            parts.append(node.text)
        elif tag == "tab":
            parts.append("\t")
        elif tag in ("br", "cr"):
            parts.append("\n")
    return "".join(parts)


def _paragraph_level(p: Element, levels: dict[str, int]) -> int | None:
    ppr = _child(p, "pPr")
    if ppr is None:
        return None
    style = _child(ppr, "pStyle")
    style_id = _attr(style, "val") if style is not None else None
    if style_id:
        if style_id in levels:
            return levels[style_id]
        # "Heading2" when styles.xml did not say (or was missing)
        return _level_of(re.sub(r"(?<=[A-Za-z])(?=\d)", " ", style_id), p)
    return _level_of("", p)


def _table(tbl: Element) -> str:
    rows = []
    for tr in tbl.iter():
        if _local(tr.tag) != "tr":
            continue
        cells = [" ".join(_text(tc).split()) for tc in tr if _local(tc.tag) == "tc"]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _sections(source: IO[bytes], levels: dict[str, int]) -> Iterator[Section]:
    path: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> Iterator[Section]:
        text = clean_text("\n\n".join(body))
        body.clear()
        if text:
            yield Section(text, None, " > ".join(t for _, t in path) or None)

    open_tags: list[str] = []
    for event, el in iterparse(source, events=("start", "end")):
        tag = _local(el.tag)
        if event == "start":
            open_tags.append(tag)
            continue
        open_tags.pop()
        if "tbl" in open_tags or tag not in ("p", "tbl"):
            continue  # a table's paragraphs are read with the table
        if tag == "tbl":
            body.append(_table(el))
        else:
            text = _text(el)
            level = _paragraph_level(el, levels)
            if level and text.strip():
                yield from flush()
                while path and path[-1][0] >= level:
                    path.pop()
                path.append((level, " ".join(text.split())))
            else:
                body.append(text)
        el.clear()  # streamed: memory stays flat
    yield from flush()

"""Sections out of text formats: Markdown and HTML (by heading), CSV (rows with their header,
in groups) and JSON (by key path). Each takes clean text (extract.clean_text) and returns the
sections; extract() turns any surprise into an ExtractError."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import zip_longest
from typing import Any

from omnichat.documents.extract import ExtractError, Section, clean_text

ROWS_PER_SECTION = 50
JSON_PACK_CHARS = 1000  # small values are packed into one section up to this size
JSON_MAX_DEPTH = 32


class _Outline:
    """Paragraphs gathered under the current heading path ("A > B")."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []
        self.body: list[str] = []
        self.sections: list[Section] = []

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        self.flush()
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, text))

    def add(self, text: str) -> None:
        self.body.append(text)

    def flush(self) -> None:
        text = clean_text("\n\n".join(self.body))
        self.body.clear()
        if text:
            self.sections.append(Section(text, None, " > ".join(t for _, t in self.path) or None))


# Markdown ---------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown(text: str) -> list[Section]:
    out = _Outline()
    lines = text.split("\n")
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter: kept as text, never a heading
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is not None:
            out.add("\n".join(lines[1:end]))
            start = end + 1
    fence = ""
    para: list[str] = []  # the current paragraph's lines (a setext underline turns them into a heading)
    for line in lines[start:]:
        if fence:
            para.append(line)
            if line.strip().startswith(fence):
                fence = ""
            continue
        if m := _FENCE.match(line):
            fence = m.group(1)[0] * 3
            para.append(line)
            continue
        if m := _ATX.match(line):
            out.add("\n".join(para))
            para = []
            out.heading(len(m.group(1)), m.group(2) or "")
            continue
        if _SETEXT.match(line) and para and para[-1].strip():
            out.heading(1 if line.strip()[0] == "=" else 2, " ".join(para))
            para = []
            continue
        if not line.strip():
            out.add("\n".join(para))
            para = []
        else:
            para.append(line)
    out.add("\n".join(para))
    out.flush()
    return out.sections


# HTML -------------------------------------------------------------------------------------

_SKIP = frozenset({"script", "style", "noscript", "template", "nav", "svg", "math", "iframe", "object",
                   "head", "button", "select", "textarea"})
_BLOCK = frozenset({"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "thead", "tbody", "section",
                    "article", "main", "header", "footer", "aside", "blockquote", "pre", "hr", "figure",
                    "figcaption", "form", "fieldset", "address", "body", "caption", "details", "summary"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Outline()
        self.buf: list[str] = []
        self.skip = 0
        self.pre = 0
        self.heading: int | None = None
        self.title: list[str] | None = None
        self.title_text = ""
        self.cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self.title_text:
            self.title = []
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.buf.append("\n")
        elif tag in _HEADINGS:
            self._flush()
            self.heading = _HEADINGS[tag]
        elif tag in ("td", "th"):
            if self.cells:
                self.buf.append(" | ")
            self.cells += 1
        elif tag in _BLOCK:
            self._flush()
            if tag == "tr":
                self.cells = 0
            if tag == "pre":
                self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title is not None:
            self.title_text = " ".join("".join(self.title).split())
            self.title = None
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _HEADINGS and self.heading is not None:
            self.out.heading(self.heading, "".join(self.buf))
            self.buf.clear()
            self.heading = None
        elif tag in _BLOCK:
            self._flush()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.title is not None:
            self.title.append(data)
        if self.skip:
            return
        self.buf.append(data if self.pre else re.sub(r"\s+", " ", data))

    def _flush(self) -> None:
        text = "".join(self.buf)
        self.buf.clear()
        if self.heading is not None:  # a block inside a heading: the heading's text so far
            self.out.heading(self.heading, text)
            self.heading = None
            return
        if self.pre:
            text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
        else:
            text = "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()
        if text.strip():
            if not self.out.path and self.title_text:  # text before any heading: under the page's title,
                self.out.path.append((7, self.title_text))  # which the first heading (levels 1-6) replaces
            self.out.add(text)

    def finish(self) -> list[Section]:
        self.close()
        self._flush()
        self.out.flush()
        return self.out.sections


def html(text: str) -> list[Section]:
    parser = _Html()
    parser.feed(text)
    return parser.finish()


# CSV --------------------------------------------------------------------------------------

def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_rows(text: str, delimiter: str | None = None) -> list[Section]:
    """Each row as "column: value; ..." (empty values left out), ROWS_PER_SECTION rows a section
    headed "rows 1–50" (data rows, the header not counted)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter or _delimiter(text.split("\n", 1)[0]))
    try:
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as e:
        raise ExtractError(f"The CSV file could not be read ({e}).") from None
    if not rows:
        return []
    header = [" ".join(h.split()) for h in rows[0]]
    if len(rows) == 1:
        return [Section("columns: " + ", ".join(h for h in header if h))]
    sections = []
    for start in range(1, len(rows), ROWS_PER_SECTION):
        group = rows[start:start + ROWS_PER_SECTION]
        rendered = [_row(header, row) for row in group]
        text = "\n\n".join(r for r in rendered if r)
        if text:
            sections.append(Section(text, None, f"rows {start}–{start + len(group) - 1}"))
    return sections


def _row(header: list[str], row: list[str]) -> str:
    cells = []
    for i, (name, value) in enumerate(zip_longest(header, row, fillvalue="")):
        value = " ".join(value.split())
        if value:
            cells.append(f"{name or f'column {i + 1}'}: {value}")
    return "; ".join(cells)


# JSON -------------------------------------------------------------------------------------

def json_doc(text: str) -> list[Section]:
    """Small values whole, under their key path ("items[3].name"); large objects and arrays
    opened, their small members packed together."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ExtractError("The file is not valid JSON.") from None
    return list(_json(value, "", 0))


def _dump(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _json(value: Any, path: str, depth: int) -> Iterator[Section]:
    whole = _dump(value)
    if len(whole) <= JSON_PACK_CHARS or not isinstance(value, dict | list) or depth >= JSON_MAX_DEPTH:
        if whole.strip():
            yield Section(whole, None, path or None)
        return
    items: list[tuple[str, str, Any]] = (  # (label, child path, value)
        [(str(k), f"{path}.{k}" if path else str(k), v) for k, v in value.items()] if isinstance(value, dict)
        else [(f"[{i}]", f"{path}[{i}]", v) for i, v in enumerate(value)])
    pack: list[str] = []
    first = last = ""
    size = 0

    def flush() -> Iterator[Section]:
        nonlocal size
        if pack:
            label = path if isinstance(value, dict) else f"{path}{first}" + (f"–{last}" if last != first else "")
            yield Section("\n".join(pack), None, label or None)
        pack.clear()
        size = 0

    for label, child_path, child in items:
        rendered = _dump(child)
        if len(rendered) > JSON_PACK_CHARS and isinstance(child, dict | list):
            yield from flush()
            yield from _json(child, child_path, depth + 1)
            continue
        line = f"{label}: {rendered}" if isinstance(value, dict) else rendered
        if pack and size + len(line) > JSON_PACK_CHARS:
            yield from flush()
        if not pack:
            first = label
        last = label
        pack.append(line)
        size += len(line) + 1
    yield from flush()

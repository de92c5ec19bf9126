"""Deterministic test documents for the documents tests, the bench and the browser tests.

Good files: pdf(), big_pdf(), docx(), html(), markdown(), csv(), json(), text(), code(), and
images (image_png(), image_jpeg(), image_gif(), image_webp()). Bad ones: encrypted_pdf(),
corrupt_pdf(), scanned_pdf() (no text), zip_bomb_docx(), binary_garbage(), exe().
The same arguments give the same bytes, every run. fpdf2's core fonts are Latin-1 only."""

from __future__ import annotations

import csv as _csv
import datetime as _dt
import functools
import io
import json as _json
import random
import struct
import zipfile
import zlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

_EPOCH = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


# PDF --------------------------------------------------------------------------------------

def _fpdf():  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_creation_date(_EPOCH)  # else the bytes change every run
    doc.set_auto_page_break(False)
    return doc


def pdf(pages: Sequence[str]) -> bytes:
    """One page per string (Latin-1; about 3,000 characters fit), written as wrapped text."""
    doc = _fpdf()
    doc.set_font("Helvetica", size=11)
    for text in pages:
        doc.add_page()
        doc.set_xy(15, 15)
        if text:
            doc.multi_cell(0, 5, text)
    return bytes(doc.output())


_WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an which have not has "
    "system data report model process value energy market policy result method analysis research design "
    "network service customer product quality budget project team river water climate soil harvest "
    "engine signal circuit voltage protocol server request response memory storage contract payment "
    "account invoice history museum theory evidence patient treatment study sample measure growth "
    "annual regional national quarterly increase decrease review approve estimate include consider "
    "provide require describe develop maintain improve reduce support identify significant important "
    "available different several general specific primary additional current previous following"
).split()


def big_pdf_page_text(number: int, seed: int = 0) -> str:
    """Page `number`'s text (from 1) in big_pdf(n, seed): paragraphs of ordinary sentences; the
    first line names the page ("Page 12") and a word only that page has ("marker00012")."""
    rng = random.Random(seed * 1_000_003 + number)
    paragraphs = [f"Page {number}. This page carries the word marker{number:05d}."]
    for _ in range(rng.randint(4, 6)):
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = rng.choices(_WORDS, k=rng.randint(8, 18))
            sentences.append(" ".join(words).capitalize() + ".")
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        line = ""
        for word in paragraph.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines += [line, ""]
    return lines


def big_pdf(n_pages: int, seed: int = 0) -> bytes:
    """A long text PDF (Courier, pre-wrapped, so thousands of pages take seconds): page N's
    text is big_pdf_page_text(N, seed)."""
    doc = _fpdf()
    doc.set_font("Courier", size=9)
    for number in range(1, n_pages + 1):
        doc.add_page()
        y = 20.0
        for line in _wrap(big_pdf_page_text(number, seed), 88)[:62]:
            if line:
                doc.text(15, y, line)
            y += 4.2
    return bytes(doc.output())


def scanned_pdf() -> bytes:
    """Pages with a drawing and no text at all (as a scan would be)."""
    doc = _fpdf()
    for _ in range(2):
        doc.add_page()
        doc.rect(20, 20, 100, 60, style="F")
    return bytes(doc.output())


def encrypted_pdf(password: str = "s3cret") -> bytes:
    """pdf(["This text is locked."]) that needs a password to open (AES-256)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(["This text is locked."]))))
    writer.encrypt(user_password=password, owner_password="owner-" + password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def owner_locked_pdf() -> bytes:
    """Encrypted with an empty user password (printing restricted): every viewer opens it."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(["Anyone may read this page."]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    """A PDF header followed by noise."""
    rng = random.Random(7)
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(rng.randrange(256) for _ in range(4096))


# DOCX -------------------------------------------------------------------------------------

Block = str | tuple[int, str] | list[list[str]]

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/word/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="word/document.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/></Relationships>')
_DOC_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="styles.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"/></Relationships>')


def _styles() -> str:
    # Localised ids, as a German Word writes them: the level comes from the name.
    styles = "".join(
        f'<w:style w:type="paragraph" w:styleId="Berschrift{n}"><w:name w:val="heading {n}"/></w:style>'
        for n in range(1, 4))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles xmlns:w="{_W}">'
            f'<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>'
            f'{styles}</w:styles>')


def _run_text(text: str) -> str:
    return "<w:br/>".join(f'<w:r><w:t xml:space="preserve">{escape(line)}</w:t></w:r>'
                          for line in text.split("\n"))


def _block(block: Block, style: str) -> str:
    if isinstance(block, str):
        return f"<w:p>{_run_text(block)}</w:p>"
    if isinstance(block, tuple):
        level, text = block
        return f'<w:p><w:pPr><w:pStyle w:val="{style}{level}"/></w:pPr>{_run_text(text)}</w:p>'
    rows = "".join("<w:tr>" + "".join(f"<w:tc><w:p>{_run_text(c)}</w:p></w:tc>" for c in row) + "</w:tr>"
                   for row in block)
    return f"<w:tbl>{rows}</w:tbl>"


def docx(blocks: Sequence[Block], styles: bool = True) -> bytes:
    """A Word document: a str is a paragraph ("\\n" a line break), (level, text) a heading of
    level 1-3, a list of rows (lists of cell strings) a table. styles=True: localised style ids
    named in styles.xml ("Berschrift2" is "heading 2"); False: no styles.xml, ids "Heading2"."""
    body = "".join(_block(b, "Berschrift" if styles else "Heading") for b in blocks)
    document = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                f'<w:document xmlns:w="{_W}"><w:body>{body}<w:sectPr/></w:body></w:document>')
    members: dict[str, str | bytes] = {"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _RELS,
                                       "word/_rels/document.xml.rels": _DOC_RELS, "word/document.xml": document}
    if styles:
        members["word/styles.xml"] = _styles()
    return _zip(members)


def _zip(members: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name, _ZIP_TIME), content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def xlsx_like() -> bytes:
    """A ZIP that is a spreadsheet, not a Word document."""
    return _zip({"[Content_Types].xml": _CONTENT_TYPES, "xl/workbook.xml": "<workbook/>"})


def plain_zip() -> bytes:
    return _zip({"notes.txt": "just a zip"})


@functools.lru_cache(maxsize=4)
def zip_bomb_docx(inflated_mb: int = 300, honest: bool = True) -> bytes:
    """A DOCX of a few hundred KB whose document.xml inflates to `inflated_mb` MB. Built from one
    compressed megabyte repeated (a full flush makes each block independent), so it costs a CRC
    pass, not a compression. honest=False declares a 1 KB size in the headers (a lying ZIP)."""
    piece = b"<w:p><w:r><w:t>" + b"bomb " * 2000 + b"</w:t></w:r></w:p>"
    unit = (piece * ((1 << 20) // len(piece) + 1))[:1 << 20]  # exactly 1 MB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(unit) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = block * inflated_mb + b"\x03\x00"  # an empty final block ends the deflate stream
    crc = 0
    for _ in range(inflated_mb):
        crc = zlib.crc32(unit, crc)
    size = inflated_mb << 20 if honest else 1024
    members = [(name, zlib.compress(data.encode())[2:-4], zlib.crc32(data.encode()), len(data.encode()))
               for name, data in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS))]
    members.append(("word/document.xml", stream, crc, size))
    return _raw_zip(members)


def _raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A ZIP written field by field: (name, raw deflate data, CRC-32, declared size) each."""
    out = bytearray()
    central = bytearray()
    for name, data, crc, size in members:
        encoded = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x5821, crc, len(data), size,
                           len(encoded), 0) + encoded + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x5821, crc, len(data), size,
                               len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)


# Text formats -----------------------------------------------------------------------------

def markdown() -> bytes:
    """Headings: "Guide" > "Install" (ATX), "Guide" > "Usage" (setext), "Appendix" (setext, level 1).
    The fenced code's "# not a heading" stays text of "Guide > Install"."""
    return (
        "# Guide\n\nOmniChat answers questions about your files.\n\n"
        "## Install\n\nRun the installer with **pip**.\n\n```bash\n# not a heading\npip install omnichat\n```\n\n"
        "Usage\n-----\n\nAsk a question and read the citations.\n\n"
        "Appendix\n========\n\nThe glossary lists every term, from café to naïve.\n"
    ).encode()


def html() -> bytes:
    """<title> "Field notes"; headings "Birds" > "Herons" and "Birds" > "Owls"; a table row
    "Species | Count"; script, style and nav text never extracted; entities decoded (&amp;)."""
    return (
        b"<!DOCTYPE html><html><head><title>Field notes</title><style>p{color:red}</style>"
        b"<script>var secret = 'scriptword';</script></head><body>"
        b"<nav><a href='/'>navword home</a></nav>"
        b"<p>Intro before any heading.</p>"
        b"<h1>Birds</h1><p>Notes on wading &amp; hunting birds.</p>"
        b"<h2>Herons</h2><p>The grey heron stands still in shallow water.</p>"
        b"<ul><li>Long legs</li><li>Sharp bill</li></ul>"
        b"<table><tr><th>Species</th><th>Count</th></tr><tr><td>Heron</td><td>4</td></tr></table>"
        b"<h2>Owls</h2><p>Owls hunt at night.<br>They are quiet.</p>"
        b"<script>document.write('scriptword')</script></body></html>"
    )


def csv(rows: int = 120) -> bytes:
    """Columns city, country, population; row N (from 1) is "City N"."""
    out = io.StringIO()
    writer = _csv.writer(out, lineterminator="\n")
    writer.writerow(["city", "country", "population"])
    for n in range(1, rows + 1):
        writer.writerow([f"City {n}", "Atlantis" if n % 2 else "Lemuria", str(1000 * n)])
    return out.getvalue().encode()


def json(items: int = 60) -> bytes:
    """{"name", "version", "settings": {...}, "items": [items × {"id", "title", "tags"}]}: "items"
    is large, so its members are packed in sections headed "items[0]–[k]"."""
    doc = {
        "name": "inventory",
        "version": 3,
        "settings": {"currency": "EUR", "warehouse": {"city": "Lyon", "dock": 7}},
        "items": [{"id": n, "title": f"Item number {n}", "tags": ["blue", "large"] if n % 3 else []}
                  for n in range(items)],
    }
    return _json.dumps(doc, indent=2).encode()


def text() -> bytes:
    return b"First paragraph about apples.\n\nSecond paragraph about pears.\n"


def code() -> bytes:
    return (b'"""A tiny module."""\n\n\ndef add(a, b):\n    return a + b\n\n\n'
            b"def sub(a, b):\n    return a - b\n")


# Images and binaries ----------------------------------------------------------------------

def image_png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG, written with zlib alone."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _pil_image(fmt: str) -> bytes:
    from PIL import Image  # fpdf2 depends on Pillow

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def image_jpeg() -> bytes:
    return _pil_image("JPEG")


def image_gif() -> bytes:
    return _pil_image("GIF")


def image_webp() -> bytes:
    return _pil_image("WEBP")


def binary_garbage(size: int = 4096) -> bytes:
    rng = random.Random(11)
    return b"\x00\x01\xfe" + bytes(rng.randrange(256) for _ in range(size))


def exe() -> bytes:
    """The start of a Windows program."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot"

"""The pure part of ingestion (omnichat.documents.sniff, extract, chunking): every supported type
is recognised from its bytes and extracted with its pages and headings; chunks keep both; every
bad file fails with a clear reason and no other exception type; names are made safe."""

from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnichat.documents import extract_text
from omnichat.documents.chunking import Chunk, chunk
from omnichat.documents.extract import Extracted, ExtractError, Section, extract
from omnichat.documents.sniff import DOCX, PDF, Unsupported, clean_name, decode_text, sniff
from omnichat.errors import BadRequest
from tests import documents_corpus as corpus


def _ids(value: object) -> str | None:
    return f"{len(value)}B" if isinstance(value, bytes) else None


# Sniffing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data, name, kind, content_type", [
    (corpus.pdf(["hello"]), "notes.txt", "document", PDF),  # the bytes win over the name
    (corpus.docx(["hello"]), "report.pdf", "document", DOCX),
    (corpus.image_png(), "scan.pdf", "image", "image/png"),
    (corpus.image_jpeg(), "photo", "image", "image/jpeg"),
    (corpus.image_gif(), "a.gif", "image", "image/gif"),
    (corpus.image_webp(), "a.webp", "image", "image/webp"),
    (corpus.markdown(), "README.md", "document", "text/markdown"),
    (corpus.markdown(), "notes.MARKDOWN", "document", "text/markdown"),
    (corpus.html(), "page.htm", "document", "text/html"),
    (corpus.html(), "saved-page.txt", "document", "text/html"),  # <!DOCTYPE html> says so
    (b"  <html lang=en><body>x</body></html>", "x", "document", "text/html"),
    (corpus.csv(), "cities.csv", "document", "text/csv"),
    (b"a\tb\n1\t2\n", "t.tsv", "document", "text/tab-separated-values"),
    (corpus.json(), "data.json", "document", "application/json"),
    (corpus.code(), "tool.py", "document", "text/x-python"),
    (b"FROM python:3.12\n", "Dockerfile", "document", "text/x-dockerfile"),
    (b"fn main() {}\n", "src\\main.rs", "document", "text/x-rust"),
    (corpus.text(), "notes.txt", "document", "text/plain"),
    (corpus.text(), "no-extension", "document", "text/plain"),
    ("\ufeffBOM and UTF-8 — ok".encode(), "a.txt", "document", "text/plain"),
    ("UTF-16 text, ünïcode".encode("utf-16"), "a.txt", "document", "text/plain"),
], ids=_ids)
def test_sniff_recognises_each_type_from_its_bytes(data, name, kind, content_type):
    found = sniff(data, name)
    assert (found.kind, found.content_type) == (kind, content_type)


def test_code_carries_its_language():
    assert sniff(b"package main\n", "main.go").language == "go"
    assert sniff(b"SELECT 1;\n", "q.sql").content_type == "text/x-sql"


@pytest.mark.parametrize("data, name, code, words", [
    (b"", "a.txt", "empty_file", "empty"),
    (corpus.exe(), "invoice.pdf", "unsupported_type", "Windows program"),
    (corpus.binary_garbage(), "notes.txt", "unsupported_type", "not supported"),
    (corpus.plain_zip(), "a.docx", "unsupported_type", "ZIP"),
    (corpus.xlsx_like(), "a.docx", "unsupported_type", "XLSX"),
    (b"PK\x03\x04 truncated", "a.docx", "unsupported_type", "could not be read"),
    (b'{"a": 1,', "broken.json", "unsupported_type", "not valid JSON"),
    (b"[" * 100_000, "deep.json", "unsupported_type", "JSON"),
    (b"text with a \x00 NUL", "a.txt", "unsupported_type", "not supported"),
    ("caf\u00e9 au lait".encode("latin-1"), "menu.txt", "unsupported_type", "UTF-8"),
], ids=_ids)
def test_sniff_refuses_what_it_cannot_take_with_a_clear_error(data, name, code, words):
    with pytest.raises(Unsupported) as caught:
        sniff(data, name)
    error = caught.value
    assert isinstance(error, BadRequest)
    assert error.code == code and words in error.message
    assert error.status == (400 if code == "empty_file" else 415)


def test_decode_text_reads_boms_and_refuses_binary():
    assert decode_text("\ufeffhi".encode()) == "hi"
    assert decode_text("hi".encode("utf-16-be").join([b"\xfe\xff", b""])) == "hi"
    assert decode_text(b"\xff\xd8\xff") is None


@pytest.mark.parametrize("raw, clean", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\Desktop\\report.pdf", "report.pdf"),
    ("  spaced name.txt \n", "spaced name.txt"),
    ("bell\x07and\x00nul.txt", "bellandnul.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # shown as "invoiceexe.jpg" with the override
    ("\u2066isolated\u2069.md", "isolated.md"),
    ("caf\u0065\u0301.txt", "caf\u00e9.txt"),  # NFC
])
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean


def test_clean_name_keeps_the_extension_of_a_long_name():
    name = clean_name("x" * 400 + ".pdf")
    assert len(name) == 255 and name.endswith("xx.pdf")
    assert len(clean_name("y" * 300)) == 255


@pytest.mark.parametrize("raw", ["", "   ", ".", "..", "dir/", "../..", "\u202e", "\x00\x01"])
def test_clean_name_refuses_names_that_are_no_name(raw):
    with pytest.raises(BadRequest) as caught:
        clean_name(raw)
    assert caught.value.code == "invalid_file_name"


# PDF --------------------------------------------------------------------------------------

def test_pdf_sections_keep_their_page_numbers_and_blank_pages_are_skipped():
    got = extract(corpus.pdf(["Alpha words on one.", "", "Gamma words on three."]), PDF)
    assert got.pages == 3
    assert [(s.page, s.text) for s in got.sections] == [(1, "Alpha words on one."), (3, "Gamma words on three.")]


def test_a_long_pdf_extracts_every_page_with_its_marker():
    got = extract(corpus.big_pdf(12, seed=3), PDF)
    assert got.pages == 12 and [s.page for s in got.sections] == list(range(1, 13))
    for s in got.sections:
        assert f"marker{s.page:05d}" in s.text and f"Page {s.page}." in s.text
    for c in chunk(got.sections):  # a chunk that names a page is on that page
        for marker in re.findall(r"marker(\d{5})", c.text):
            assert int(marker) == c.page


def test_big_pdf_is_deterministic_and_its_text_is_known():
    assert corpus.big_pdf(2, seed=1) == corpus.big_pdf(2, seed=1) != corpus.big_pdf(2, seed=2)
    assert "marker00002" in corpus.big_pdf_page_text(2)


def test_a_pdf_with_an_empty_user_password_is_read():
    assert extract(corpus.owner_locked_pdf(), PDF).sections[0].text == "Anyone may read this page."


@pytest.mark.parametrize("data, words", [
    (corpus.encrypted_pdf(), "encrypted"),
    (corpus.corrupt_pdf(), "could not be read"),
    (corpus.pdf(["cut short"])[:300], "could not be read"),
    (b"%PDF-", "could not be read"),
    (corpus.scanned_pdf(), "no text"),
], ids=_ids)
def test_bad_pdfs_fail_with_a_reason(data, words):
    with pytest.raises(ExtractError) as caught:
        extract(data, PDF)
    assert words in caught.value.reason and caught.value.reason[0].isupper()


# DOCX -------------------------------------------------------------------------------------

BLOCKS: list[corpus.Block] = [
    (1, "Handbook"), "Welcome to the handbook.",
    (2, "Travel"), "Book trains early.", "Line one\nline two",
    [["Item", "Cost"], ["Train", "40 EUR"]],
    (3, "Visas"), "Check visas.",
    (2, "Expenses"), "Keep receipts & invoices <always>.",
]


@pytest.mark.parametrize("styles", [True, False], ids=["localised-styles", "no-styles-xml"])
def test_docx_paragraphs_tables_and_heading_paths(styles):
    got = extract(corpus.docx(BLOCKS, styles=styles), DOCX)
    assert got.pages is None
    assert [(s.heading, s.text) for s in got.sections] == [
        ("Handbook", "Welcome to the handbook."),
        ("Handbook > Travel", "Book trains early.\n\nLine one\nline two\n\nItem | Cost\nTrain | 40 EUR"),
        ("Handbook > Travel > Visas", "Check visas."),
        ("Handbook > Expenses", "Keep receipts & invoices <always>."),
    ]


def test_docx_zip_bombs_are_refused_before_inflating():
    for honest in (True, False):  # sizes declared, or a header that lies about them
        bomb = corpus.zip_bomb_docx(300, honest=honest)
        assert len(bomb) < 1 << 20 and sniff(bomb, "a.docx").content_type == DOCX
        started = time.process_time()
        with pytest.raises(ExtractError) as caught:
            extract(bomb, DOCX)
        assert time.process_time() - started < 1.0  # 300 MB were never inflated
        assert ("zip bomb" if honest else "could not be read") in caught.value.reason


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
          b'<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>')


@pytest.mark.parametrize("data, words", [
    (_zip({f"word/f{i}.xml": b"" for i in range(6000)} | {"word/document.xml": b"<a/>"}), "zip bomb"),
    (_zip({"word/document.xml": LAUGHS}), "could not be read"),  # no entity expansion
    (_zip({"word/document.xml": b"<w:document><w:body><w:p>"}), "could not be read"),
    (_zip({"word/other.xml": b"<a/>"}), "could not be read"),
    (b"PK\x03\x04 not really", "could not be read"),
    (corpus.docx([]), "no text"),
], ids=_ids)
def test_bad_docx_files_fail_with_a_reason(data, words):
    with pytest.raises(ExtractError) as caught:
        extract(data, DOCX)
    assert words in caught.value.reason


# Text formats -----------------------------------------------------------------------------

def _headed(got: Extracted) -> list[tuple[str | None, str]]:
    return [(s.heading, s.text) for s in got.sections]


def test_markdown_heading_paths_atx_and_setext_and_code_fences():
    got = _headed(extract(corpus.markdown(), "text/markdown"))
    assert [h for h, _ in got] == ["Guide", "Guide > Install", "Guide > Usage", "Appendix"]
    assert "# not a heading" in got[1][1] and "café to naïve" in got[3][1]


def test_markdown_front_matter_is_not_a_heading():
    got = _headed(extract(b"---\ntitle: x\n---\n\n# Real\n\nbody\n", "text/markdown"))
    assert got == [(None, "title: x"), ("Real", "body")]


def test_html_keeps_headings_and_drops_scripts_styles_and_navigation():
    got = _headed(extract(corpus.html(), "text/html"))
    assert [h for h, _ in got] == ["Field notes", "Birds", "Birds > Herons", "Birds > Owls"]
    text = "\n".join(t for _, t in got)
    assert "scriptword" not in text and "navword" not in text and "color" not in text
    assert "wading & hunting" in text and "Species | Count\n\nHeron | 4" in text
    assert got[3][1] == "Owls hunt at night.\nThey are quiet."


def test_csv_rows_carry_their_header_in_groups():
    got = extract(corpus.csv(120), "text/csv").sections
    assert [s.heading for s in got] == ["rows 1–50", "rows 51–100", "rows 101–120"]
    assert got[0].text.split("\n\n")[0] == "city: City 1; country: Atlantis; population: 1000"
    assert got[2].text.split("\n\n")[-1] == "city: City 120; country: Lemuria; population: 120000"


def test_csv_delimiters_quotes_and_missing_values():
    semi = extract(b'name;note\n"Smith; J.";"says ""hi"""\nDoe;\n', "text/csv").sections[0].text
    assert semi == 'name: Smith; J.; note: says "hi"\n\nname: Doe'
    tsv = extract(b"a\tb\n1\t2\t3\n", "text/tab-separated-values").sections[0].text
    assert tsv == "a: 1; b: 2; column 3: 3"
    assert extract(b"only,a,header\n", "text/csv").sections[0].text == "columns: only, a, header"


def test_json_is_read_by_key_path_and_large_arrays_are_packed():
    got = extract(corpus.json(60), "application/json").sections
    assert got[0].heading is None and got[0].text.startswith("name: inventory\nversion: 3\nsettings: ")
    items = got[1:]
    assert items[0].heading.startswith("items[0]–[") and items[-1].heading.endswith("[59]")
    assert all(len(s.text) <= extract_text.JSON_PACK_CHARS for s in items)
    assert sum(s.text.count('"id": ') for s in items) == 60


def test_json_small_documents_and_deep_nesting():
    assert _headed(extract(b'"just a string"', "application/json")) == [(None, "just a string")]
    with pytest.raises(ExtractError, match="nested too deeply|not valid JSON"):
        extract(b"[" * 50_000 + b"]" * 50_000, "application/json")


def test_code_is_headed_by_its_file_name_and_text_by_nothing():
    got = extract(corpus.code(), "text/x-python", name="tool.py").sections
    assert got[0].heading == "tool.py" and "def add" in got[0].text
    assert extract(corpus.text(), "text/plain").sections == [
        Section("First paragraph about apples.\n\nSecond paragraph about pears.")]


def test_text_is_cleaned_and_utf16_is_read():
    got = extract("A\r\nB   \r\n\r\n\r\n\r\nC\x07".encode("utf-16"), "text/plain").sections[0].text
    assert got == "A\nB\n\nC"


@pytest.mark.parametrize("data, content_type, words", [
    (b"  \n\t\n ", "text/plain", "no text"),
    (b"<html><script>x()</script></html>", "text/html", "no text"),
    (b"\xff\xfe\x00", "text/plain", "not text"),
    (corpus.image_png(), "image/png", "Images are not indexed"),
    (b"data", "application/octet-stream", "no text"),
], ids=_ids)
def test_files_without_text_fail_with_a_reason(data, content_type, words):
    with pytest.raises(ExtractError, match=words):
        extract(data, content_type)


def test_an_unexpected_failure_inside_a_reader_is_still_an_extract_error(monkeypatch):
    def broken(text: str) -> list[Section]:
        raise KeyError("a bug")

    monkeypatch.setattr(extract_text, "markdown", broken)
    with pytest.raises(ExtractError, match="could not be read"):
        extract(b"# x", "text/markdown")


# Chunking ---------------------------------------------------------------------------------

def test_chunks_pack_paragraphs_and_never_cross_a_page_or_heading():
    sections = [Section("a " * 100 + "\n\n" + "b " * 100, 1, None), Section("c " * 10, 2, None),
                Section("d", 2, "H1"), Section("e", 2, "H1"), Section("f", 2, "H2")]
    got = chunk(sections, target_chars=500, max_chars=600)
    assert [(c.ordinal, c.page, c.section) for c in got] == [
        (0, 1, None), (1, 2, None), (2, 2, "H1"), (3, 2, "H2")]
    assert got[2].text == "d\n\ne"  # consecutive sections under one heading share a chunk


def test_a_long_paragraph_is_cut_at_sentence_ends():
    sentence = "This sentence has exactly some words in it."
    got = chunk([Section(" ".join([sentence] * 100), 4, "S")], target_chars=200, max_chars=300)
    assert len(got) > 1
    for c in got:
        assert c.text.endswith(".") and c.text.startswith("This") and len(c.text) <= 300
        assert (c.page, c.section) == (4, "S")


def test_lines_then_words_then_characters_when_there_are_no_sentences():
    code = "\n".join(f"x{i} = compute({i})" for i in range(200))
    assert all(len(c.text) <= 300 for c in chunk([Section(code)], 200, 300))
    endless = "A" * 1000
    assert [c.text for c in chunk([Section(endless)], 200, 300)] == ["A" * 300] * 3 + ["A" * 100]


def test_chunking_a_real_document_keeps_headings():
    got = chunk(extract(corpus.docx(BLOCKS), DOCX).sections)
    assert [c.section for c in got] == ["Handbook", "Handbook > Travel", "Handbook > Travel > Visas",
                                        "Handbook > Expenses"]


_texts = st.text(alphabet=st.sampled_from("ab .!?\n\t"), max_size=400)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_texts, st.sampled_from([None, 1, 2]), st.sampled_from([None, "A", "A > B"])),
                max_size=6), st.integers(1, 80), st.integers(0, 80))
def test_chunking_properties(parts, target, extra):
    sections = [Section(t, p, h) for t, p, h in parts]
    got = chunk(sections, target, target + extra)
    assert got == chunk(sections, target, target + extra)  # deterministic
    assert [c.ordinal for c in got] == list(range(len(got)))
    for c in got:
        assert c.text.strip() and len(c.text) <= target + extra
        assert any((s.page, s.heading) == (c.page, c.section) for s in sections)
    words = [w for s in sections for w in s.text.split()]
    assert "".join(words) == "".join(w for c in got for w in c.text.split())  # nothing lost


def test_chunk_refuses_impossible_sizes():
    with pytest.raises(ValueError):
        chunk([], 100, 50)
    assert chunk([]) == [] and chunk([Section("  \n\n ")]) == []
    assert isinstance(chunk([Section("x")])[0], Chunk)


_SEEDS = [(corpus.pdf(["hello world", "page two"]), "a.pdf"), (corpus.docx([(1, "H"), "para", [["a", "b"]]]), "a.docx"),
          (corpus.markdown(), "a.md"), (corpus.html(), "a.html"), (corpus.csv(20), "a.csv"),
          (corpus.json(5), "a.json"), (corpus.code(), "a.py")]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255), st.integers(1, 40)),
                                         min_size=1, max_size=6))
def test_damaged_files_only_ever_raise_the_two_documented_errors(seed, edits):
    data, name = seed
    damaged = bytearray(data)
    for where, byte, length in edits:  # overwrite, cut out or cut off, somewhere in the file
        at = int(where * len(damaged)) if damaged else 0
        if length < 20:
            damaged[at:at + 1] = bytes([byte])
        elif length < 35:
            del damaged[at:at + length]
        else:
            del damaged[at:]
    try:
        found = sniff(bytes(damaged), name)
        if found.kind == "document":
            chunk(extract(bytes(damaged), found.content_type, name=name).sections)
    except (Unsupported, ExtractError):
        pass

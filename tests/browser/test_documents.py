"""Documents through the page (docs/documents.md): a person attaches a PDF in the composer,
sees it upload and become ready, asks about it and gets an answer whose sources (and `[n]`
markers) open the cited passage; a file can be taken off before sending; a refused file
says why; an image shows as a thumbnail fetched with the token; the Knowledge page makes a
collection, uploads into it, and `#` in the composer picks it for a question."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests import documents_corpus as corpus
from tests.browser.conftest import PASSWORD, screenshot
from tests.browser.helpers import composer, last_answer, send, token_for, wait_status
from tests.browser.pages import PAST_RIGHT_EDGE
from tests.browser.test_phone_and_axe import _axe

PHONE = {"width": 390, "height": 844}

INDEXED_S = 90_000  # upload + extraction + embeddings on a shared, busy machine

HANDBOOK = [
    "Capybara Festival handbook. The capybara festival takes place every April in Lisbon, "
    "on the banks of the Tagus. Visitors bring oranges; the capybaras prefer them peeled.",
    "Tickets. A day ticket costs twelve euros. Children under seven enter free of charge. "
    "The gates open at nine in the morning and close at sunset.",
]


def _attach(page: Page, files: list[dict[str, Any]]) -> None:
    """Attach through the paperclip's file chooser, as a person does."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(files)


def _attached(page: Page) -> Locator:
    return page.get_by_role("list", name="Attached to your message")


def _chip(page: Page, name: str) -> Locator:
    return _attached(page).get_by_role("listitem").filter(has_text=name)


def _files(stack: Any, token: str) -> list[dict[str, Any]]:
    found = stack.api("GET", "/api/files", token=token)
    return found if isinstance(found, list) else found.get("files") or found.get("items") or []


def test_a_pdf_is_attached_indexed_asked_about_and_cited(new_page, stack, admin):
    token = token_for(stack, "docs-walk@example.com", PASSWORD, "Dora Docs")
    page = new_page(token)
    page.goto("/")
    pdf = corpus.pdf(HANDBOOK)
    _attach(page, [{"name": "handbook.pdf", "mimeType": "application/pdf", "buffer": pdf}])

    chip = _chip(page, "handbook.pdf")
    expect(chip).to_contain_text(f"{len(pdf) / 1024:.1f} KB")  # < 10 KB: one decimal
    expect(chip).to_contain_text("Ready", timeout=INDEXED_S)
    expect(page.get_by_role("button", name="Send message")).to_be_disabled()  # no text yet
    screenshot(page, "documents-attached-light-1280")

    send(page, "When does the capybara festival take place? [[echo=1]] Every April [1].")
    expect(_attached(page)).to_have_count(0)  # the composer starts empty again
    question = page.locator('article[aria-label="Your message"]').last
    expect(question.get_by_role("list", name="Attachments")).to_contain_text("handbook.pdf")
    answer = wait_status(page, "complete", 30_000)

    sources = answer.get_by_role("region", name="Sources")
    expect(sources).to_contain_text("handbook.pdf")
    first = sources.get_by_role("button", name=re.compile(r"^Source 1: handbook\.pdf"))
    first.click()
    dialog = page.get_by_role("dialog", name=re.compile(r"handbook\.pdf"))
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("region", name="Cited passage")).to_contain_text(re.compile(r"April|Tickets"))
    expect(dialog).to_contain_text(re.compile(r"Page [12]"))
    screenshot(page, "documents-passage-light-1280")
    assert _axe(page) == []
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # `[1]` in the answer's text is a button to the same passage.
    marker = answer.locator(".prose").get_by_role("button", name=re.compile(r"^Source 1: handbook\.pdf")).first
    expect(marker).to_have_text("1")
    marker.click()
    expect(page.get_by_role("dialog", name=re.compile(r"handbook\.pdf"))).to_be_visible()
    page.keyboard.press("Escape")

    # The message JSON carries the same: after a reload, attachments and sources are there.
    page.reload()
    question = page.locator('article[aria-label="Your message"]').last
    expect(question.get_by_role("list", name="Attachments")).to_contain_text("handbook.pdf")
    expect(last_answer(page).get_by_role("region", name="Sources")).to_contain_text("handbook.pdf")


def test_a_file_removed_before_sending_is_not_sent_and_is_deleted(new_page, stack, admin):
    token = token_for(stack, "docs-remove@example.com", PASSWORD, "Remy Remove")
    page = new_page(token, fresh=True)  # listens to its socket
    sent: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: _keep_send(payload, sent)))
    page.goto("/")
    _attach(page, [{"name": "notes.txt", "mimeType": "text/plain", "buffer": corpus.text()},
                   {"name": "keep.md", "mimeType": "text/markdown", "buffer": corpus.markdown()}])
    expect(_chip(page, "notes.txt")).to_be_visible()
    expect(_chip(page, "notes.txt")).to_contain_text(re.compile(r"Uploading|Queued|Indexing|Ready"))
    # Wait for the upload itself, so the server has the row the removal deletes.
    expect(_chip(page, "notes.txt")).not_to_contain_text("Uploading", timeout=INDEXED_S)
    page.get_by_role("button", name="Remove notes.txt").click()
    expect(_chip(page, "notes.txt")).to_have_count(0)
    expect(_chip(page, "keep.md")).to_contain_text("Ready", timeout=INDEXED_S)

    send(page, "What do these notes say?")
    question = page.locator('article[aria-label="Your message"]').last
    attachments = question.get_by_role("list", name="Attachments")
    expect(attachments).to_contain_text("keep.md")
    expect(attachments).not_to_contain_text("notes.txt")
    wait_status(page, "complete", 30_000)
    files = {f["name"]: f["id"] for f in _files(stack, token)}
    assert "notes.txt" not in files and "keep.md" in files, files
    assert [frame.get("attachments") for frame in sent] == [[files["keep.md"]]]


def _keep_send(payload: str | bytes, sent: list[dict[str, Any]]) -> None:
    try:
        frame = json.loads(payload)
    except (TypeError, ValueError):
        return
    if isinstance(frame, dict) and frame.get("action") == "chat.send":
        sent.append(frame)


def test_a_refused_file_says_why_and_blocks_sending(new_page, stack, admin, tmp_path):
    token = token_for(stack, "docs-refused@example.com", PASSWORD, "Rufus Refused")
    page = new_page(token)
    page.goto("/")
    _attach(page, [{"name": "setup.exe", "mimeType": "application/octet-stream", "buffer": corpus.exe()}])
    chip = _chip(page, "setup.exe")
    expect(chip.get_by_role("alert")).to_contain_text(re.compile(r"^Failed: .{8,}"), timeout=INDEXED_S)
    composer(page).fill("Can you read this?")
    expect(page.get_by_role("button", name="Send message")).to_be_disabled()
    expect(page.get_by_role("status").filter(has_text="Remove the files that failed")).to_be_visible()
    page.get_by_role("button", name="Remove setup.exe").click()
    expect(page.get_by_role("button", name="Send message")).to_be_enabled()

    # Over the size limit (25 MB by default): refused from its declared size, before its
    # bytes travel (the direct-upload flow), with the server's sentence.
    big = tmp_path / "huge.txt"
    with big.open("wb") as f:
        f.truncate(26 * 1024 * 1024)
    _attach(page, [str(big)])
    alert = _chip(page, "huge.txt").get_by_role("alert")
    expect(alert).to_contain_text(re.compile(r"^Failed: .*(large|limit|MB)", re.I), timeout=30_000)
    screenshot(page, "documents-refused-light-1280")


def test_an_image_shows_as_a_thumbnail_fetched_with_the_token(new_page, stack, admin):
    token = token_for(stack, "docs-image@example.com", PASSWORD, "Ima Image")
    page = new_page(token)
    page.goto("/")
    _attach(page, [{"name": "dot.png", "mimeType": "image/png", "buffer": corpus.image_png(48, 32)}])
    chip = _chip(page, "dot.png")
    expect(chip.locator("img")).to_have_attribute("src", re.compile(r"^blob:"))
    expect(chip).to_contain_text("Ready", timeout=INDEXED_S)  # images are not indexed

    send(page, "What is in this picture?")
    question = page.locator('article[aria-label="Your message"]').last
    thumb = question.get_by_role("img", name="dot.png")
    expect(thumb).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 48", arg=thumb.element_handle())
    # The test model reads no images: the refusal is said plainly, in the chat.
    refusal = page.locator('article[aria-label="Your message"] .failed, article[aria-label="Assistant message"] .error')
    expect(refusal.last).to_contain_text(re.compile(r"image", re.I), timeout=30_000)


def test_the_knowledge_page_makes_a_collection_and_hash_picks_it(new_page, stack, admin):
    token = token_for(stack, "docs-knowledge@example.com", PASSWORD, "Kim Knowledge")
    page = new_page(token)
    page.goto("/")
    page.get_by_role("link", name="Knowledge", exact=True).click()
    expect(page.get_by_role("heading", name="Knowledge", level=1)).to_be_visible()
    page.get_by_label("Collection name").fill("Festival notes")
    page.get_by_role("button", name="Create collection").click()
    card = page.get_by_role("region", name="Festival notes")
    expect(card).to_contain_text("No files yet")

    with page.expect_file_chooser() as chooser:
        card.get_by_role("button", name="Upload files to Festival notes").click()
    chooser.value.set_files([{"name": "handbook.pdf", "mimeType": "application/pdf", "buffer": corpus.pdf(HANDBOOK)}])
    row = card.get_by_role("row").filter(has_text="handbook.pdf")
    expect(row).to_contain_text("Ready", timeout=INDEXED_S)
    expect(row).to_contain_text("2 pages")
    screenshot(page, "documents-knowledge-light-1280")

    # Rename it, then pick it with `#` in a new chat.
    card.get_by_role("button", name="Rename Festival notes").click()
    page.get_by_label("New name for Festival notes").fill("Capybara notes")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("region", name="Capybara notes")).to_be_visible()

    page.get_by_role("button", name="New chat").click()
    box = composer(page)
    box.press_sequentially("#Capy")
    picker = page.get_by_role("listbox", name="Knowledge collections")
    expect(picker.get_by_role("option", name="Capybara notes")).to_be_visible()
    box.press("Enter")
    expect(picker).to_be_hidden()
    expect(_chip(page, "Capybara notes")).to_contain_text("Collection")
    expect(box).to_have_value("")
    send(page, "How much is a day ticket? [[echo=1]] Twelve euros [1].")
    question = page.locator('article[aria-label="Your message"]').last
    expect(question.get_by_role("list", name="Attachments")).to_contain_text("Capybara notes")
    answer = wait_status(page, "complete", 30_000)
    expect(answer.get_by_role("region", name="Sources")).to_contain_text("handbook.pdf")

    # Deleting the collection asks first.
    page.goto("/knowledge")
    card = page.get_by_role("region", name="Capybara notes")
    card.get_by_role("button", name="Delete Capybara notes").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete collection").click()
    expect(page.get_by_role("region", name="Capybara notes")).to_have_count(0)


def test_documents_on_a_phone_in_the_dark_fit_and_pass_axe(new_page, stack, admin):
    token = token_for(stack, "docs-phone@example.com", PASSWORD, "Phoebe Phone")
    page = new_page(token, viewport=PHONE, dark=True)
    page.goto("/")
    _attach(page, [{"name": "a handbook with a rather long file name.pdf", "mimeType": "application/pdf",
                    "buffer": corpus.pdf(HANDBOOK)},
                   {"name": "dot.png", "mimeType": "image/png", "buffer": corpus.image_png(48, 32)}])
    expect(_chip(page, "long file name")).to_contain_text("Ready", timeout=INDEXED_S)
    expect(_chip(page, "dot.png")).to_contain_text("Ready", timeout=INDEXED_S)
    page.get_by_role("button", name="Remove dot.png").click()
    screenshot(page, "documents-attached-dark-390")
    found = {"composer": _axe(page), "past the right edge": page.evaluate(PAST_RIGHT_EDGE)}

    send(page, "Where is the festival? [[echo=1]] In Lisbon [1].")
    answer = wait_status(page, "complete", 30_000)
    answer.get_by_role("region", name="Sources").get_by_role("button").first.click()
    expect(page.get_by_role("dialog", name=re.compile("long file name"))).to_be_visible()
    screenshot(page, "documents-passage-dark-390")
    found["passage"] = _axe(page)
    page.keyboard.press("Escape")
    found["answer"] = _axe(page)
    found["answer, past the right edge"] = page.evaluate(PAST_RIGHT_EDGE)

    page.goto("/knowledge")
    page.get_by_label("Collection name").fill("Pocket notes")
    page.get_by_role("button", name="Create collection").click()
    card = page.get_by_role("region", name="Pocket notes")
    with page.expect_file_chooser() as chooser:
        card.get_by_role("button", name="Upload files to Pocket notes").click()
    chooser.value.set_files([{"name": "handbook.pdf", "mimeType": "application/pdf", "buffer": corpus.pdf(HANDBOOK)},
                             {"name": "garbage.bin", "mimeType": "application/octet-stream",
                              "buffer": corpus.binary_garbage()}])
    expect(card.get_by_role("row").filter(has_text="handbook.pdf")).to_contain_text("Ready", timeout=INDEXED_S)
    expect(card.get_by_role("row").filter(has_text="garbage.bin").get_by_role("alert")).to_contain_text("Failed: ")
    screenshot(page, "documents-knowledge-dark-390")
    found["knowledge"] = _axe(page)
    found["knowledge, past the right edge"] = page.evaluate(PAST_RIGHT_EDGE)
    assert not any(found.values()), found

"""Export and import through the page: one chat from its sidebar menu (Markdown or JSON),
all chats from the account page, and an export imported again by another account."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.helpers import token_for
from tests.browser.seed import conversation, import_chats


def download(page, click):
    with page.expect_download() as info:
        click()
    d = info.value
    return d.suggested_filename, open(d.path(), encoding="utf-8").read()


def test_one_chat_exports_as_markdown_or_json_from_its_menu(new_page, stack):
    token = token_for(stack, "exporter@example.com", PASSWORD, "Exa")
    import_chats(stack, token, [conversation("Tide tables", [("When is high tide?", "At **noon**, roughly.")]),
                                conversation("Other chat", [("Unrelated", "Indeed")])])
    page = new_page(token)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Chats")

    def from_menu(item):
        nav.get_by_role("button", name="Actions for Tide tables").click()
        page.get_by_role("menuitem", name=item).click()

    name, text = download(page, lambda: from_menu("Export as Markdown"))
    assert name.startswith("omnichat-tide-tables-") and name.endswith(".md")
    assert text.startswith("# Tide tables\n") and "## You\n\nWhen is high tide?" in text
    assert "## Assistant (ollama/omnichat-test:latest)\n\nAt **noon**, roughly." in text and "Unrelated" not in text

    name, text = download(page, lambda: from_menu("Export as JSON"))
    body = json.loads(text)
    assert name.endswith(".json") and body["format"] == "omnichat.chats"
    assert [c["title"] for c in body["chats"]] == ["Tide tables"]

    # Someone else's chat is not theirs to export.
    other = token_for(stack, "snoop@example.com", PASSWORD, "Sno")
    with pytest.raises(AssertionError, match="chat_not_found"):
        stack.api("GET", f"/api/chats/export?chat_id={body['chats'][0]['id']}", token=other)


def test_all_chats_export_from_the_account_page_and_import_elsewhere(new_page, stack, tmp_path):
    token = token_for(stack, "mover@example.com", PASSWORD, "Mo")
    import_chats(stack, token, [conversation(f"Moving box {n}", [(f"item {n}", "packed")]) for n in range(3)])
    page = new_page(token)
    page.goto("/account")
    name, text = download(page, lambda: page.get_by_role("button", name="Export all (JSON)").click())
    assert len(json.loads(text)["chats"]) == 3
    _, markdown = download(page, lambda: page.get_by_role("button", name="Export all (Markdown)").click())
    assert markdown.count("\n---\n") == 2 and "# Moving box 2" in markdown

    export = tmp_path / name
    export.write_text(text)
    newcomer = token_for(stack, "newhome@example.com", PASSWORD, "Nee")
    page = new_page(newcomer)
    page.goto("/account")
    nav = page.get_by_role("navigation", name="Chats")
    expect(nav.get_by_text("Your chats will appear here.")).to_be_visible()

    def choose(path):
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Import chats…").click()
        chooser.value.set_files(str(path))

    choose(export)
    expect(page.get_by_role("status").filter(has_text="Imported 3 chats")).to_be_visible()
    expect(nav.get_by_role("link", name="Moving box")).to_have_count(3)

    # A file that is not an export says so, by name, and imports nothing.
    (tmp_path / "notes.json").write_text("not json at all")
    choose(tmp_path / "notes.json")
    expect(page.get_by_text("notes.json is not an OmniChat export: it is not JSON.")).to_be_visible()
    (tmp_path / "other.json").write_text('{"hello": "world"}')
    choose(tmp_path / "other.json")
    expect(page.get_by_text("other.json is not an OmniChat export")).to_be_visible()
    expect(nav.get_by_role("link", name="Moving box")).to_have_count(3)

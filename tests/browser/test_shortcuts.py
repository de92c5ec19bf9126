"""Keyboard shortcuts and their help sheet: new chat, search, focus the message box, ↑ to
edit the last message, copy the last answer, and the list of them all."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.helpers import composer, last_answer, send, token_for, wait_status


def test_the_shortcuts_do_what_the_help_sheet_says(new_page, stack):
    token = token_for(stack, "keys@example.com", PASSWORD, "Kay")
    page = new_page(token)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    send(page, "Copy me [[tokens=6]]")
    wait_status(page, "complete")
    answer = last_answer(page).locator(".prose").inner_text().strip()
    chat_url = page.url

    # The help sheet, from the keyboard and from its button; Esc closes it.
    page.keyboard.press("Control+/")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    expect(sheet.get_by_role("row", name=re.compile("^New chat"))).to_contain_text("Ctrl+Shift+O")
    expect(sheet.get_by_role("row")).to_have_count(7)
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(sheet).to_be_visible()
    sheet.get_by_role("button", name="Close").click()
    expect(sheet).to_be_hidden()

    page.keyboard.press("Control+k")
    expect(page.get_by_role("searchbox", name="Search chats")).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(composer(page)).to_be_focused()

    page.keyboard.press("Control+Shift+C")
    expect(page.get_by_role("status").filter(has_text="Copied the last answer")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").strip() == answer

    # ↑ in the empty message box edits the last message; typed text is left alone.
    composer(page).press("ArrowUp")
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("Copy me [[tokens=6]]")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    composer(page).fill("draft")
    composer(page).press("ArrowUp")
    expect(editor).to_have_count(0)

    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(stack.url + "/")
    assert page.url != chat_url
    expect(page.get_by_role("article", name="Assistant message")).to_have_count(0)

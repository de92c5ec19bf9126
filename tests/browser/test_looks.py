"""How the page looks and behaves at desktop and phone widths, in light and dark: the
screenshots kept in test-artifacts/screenshots/, Markdown with highlighted code and a copy
button, the chat settings, and nothing wider than a 375 px phone."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PASSWORD, PHONE, screenshot
from tests.browser.helpers import token_for
from tests.browser.seed import MARKDOWN_ANSWER, conversation, import_chats

OVERFLOW = "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"


def _seed(stack) -> tuple[str, str]:
    token = token_for(stack, "sam@example.com", PASSWORD, "Sam Rivera")
    ids = import_chats(stack, token, [
        conversation("Weekend hiking checklist", [("What should I pack for a day hike?", "Water, layers, a map.")]),
        conversation("Serverless cost estimate",
                     [("Estimate Lambda costs for 1M requests", "About **$0.20** plus compute.")]),
        conversation("Merging sorted lists", [("How do I merge two sorted lists in Python?", MARKDOWN_ANSWER)],
                     pinned=True),
    ])
    return token, ids[2]


def test_desktop_and_phone_screens(new_page, stack):
    token, code_chat = _seed(stack)
    page = new_page(token, viewport=DESKTOP)
    page.goto(f"/c/{code_chat}")
    answer = page.get_by_role("article", name="Assistant message")
    code = answer.locator("pre code")
    expect(code).to_have_attribute("data-highlighted", "yes")  # the highlighter chunk loaded
    expect(code.locator(".hljs-keyword").first).to_be_visible()
    expect(answer.get_by_role("table")).to_be_visible()
    copy = answer.get_by_role("button", name="Copy code (python)")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").startswith("def merge(a: list[int]")
    screenshot(page, "chat-markdown-desktop-1280")

    page.goto("/")
    expect(page.get_by_role("heading", name="How can I help, Sam?")).to_be_visible()
    screenshot(page, "empty-desktop-1280")

    dark = new_page(token, viewport=DESKTOP, dark=True)
    dark.goto(f"/c/{code_chat}")
    expect(dark.locator("pre code")).to_have_attribute("data-highlighted", "yes")
    screenshot(dark, "chat-markdown-dark-desktop-1280")

    phone = new_page(token, viewport=PHONE)
    phone.goto("/")
    expect(phone.get_by_role("heading", name="How can I help, Sam?")).to_be_visible()
    assert phone.evaluate(OVERFLOW) <= 0
    screenshot(phone, "empty-phone-375")
    phone.goto(f"/c/{code_chat}")
    expect(phone.locator("pre code")).to_have_attribute("data-highlighted", "yes")
    assert phone.evaluate(OVERFLOW) <= 0
    screenshot(phone, "chat-markdown-phone-375")
    # The sidebar is a drawer on a phone.
    expect(phone.get_by_role("navigation", name="Chats")).to_be_hidden()
    phone.get_by_role("button", name="Open the sidebar").click()
    nav = phone.get_by_role("navigation", name="Chats")
    expect(nav).to_be_visible()
    screenshot(phone, "sidebar-phone-375")
    nav.get_by_role("link", name="Weekend hiking checklist").click()
    expect(nav).to_be_hidden()
    expect(phone.get_by_role("heading", name="Weekend hiking checklist", level=1)).to_be_visible()
    for path in ("/keys", "/account"):
        phone.goto(path)
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        assert phone.evaluate(OVERFLOW) <= 0, path

    dark_phone = new_page(token, viewport=PHONE, dark=True)
    dark_phone.goto(f"/c/{code_chat}")
    expect(dark_phone.locator("pre code")).to_have_attribute("data-highlighted", "yes")
    screenshot(dark_phone, "chat-markdown-dark-phone-375")


def test_the_theme_toggle_and_chat_settings(new_page, stack):
    token, code_chat = _seed(stack)
    page = new_page(token)
    page.goto(f"/c/{code_chat}")
    page.get_by_role("button", name="Switch to dark theme").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered
    page.get_by_role("button", name="Switch to light theme").click()

    page.get_by_role("button", name="Chat settings").click()
    dialog = page.get_by_role("dialog", name="Chat settings")
    dialog.get_by_label("System prompt").fill("Answer like a pirate.")
    dialog.get_by_label("Use the model's default").uncheck()
    dialog.get_by_role("slider", name="Temperature").fill("1.3")
    screenshot(page, "chat-settings-desktop-1280")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    chat = stack.api("GET", f"/api/chats/{code_chat}", token=token)["chat"]
    assert chat["system_prompt"] == "Answer like a pirate."
    assert chat["params"]["temperature"] == 1.3

"""Share links through the page: the admin turns sharing on, a user makes a link from the
chat header, someone without an account reads it (sanitized Markdown, no controls, no
owner, no CSP violation), and a revoked link or sharing turned off shows "does not work"."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot
from tests.browser.helpers import token_for
from tests.browser.pages import PAST_RIGHT_EDGE
from tests.browser.seed import MARKDOWN_ANSWER, conversation, import_chats
from tests.browser.test_phone_and_axe import _axe

PHONE = {"width": 390, "height": 844}
HOSTILE = 'Look: <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>'


def _sharing(page, on: bool) -> None:
    page.goto("/admin/settings")
    box = page.get_by_role("checkbox", name="Users may share chats by link")
    expect(box).to_be_enabled()
    if box.is_checked() != on:
        with page.expect_response(lambda r: r.url.endswith("/api/admin/settings") and r.request.method == "PUT") as put:
            box.click()
        assert put.value.ok
    expect(box).to_be_checked(checked=on)


def _make_link(page, chat_id: str) -> str:
    page.goto(f"/c/{chat_id}")
    page.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name="Share this chat")
    dialog.get_by_role("button", name="Create a link").click()
    url = dialog.get_by_role("textbox", name="Your link (shown only now)")
    expect(url).to_have_value(re.compile(r"/s/[A-Za-z0-9_-]{40,}$"))
    return url.input_value()


def test_a_shared_chat_reads_without_an_account_and_stops_when_revoked(new_page, stack, admin):
    owner = token_for(stack, "sharer@example.com", PASSWORD, "Sharon Private")
    chat_id = import_chats(stack, owner, [conversation("Merging lists", [("How do I merge?", MARKDOWN_ANSWER),
                                                                         ("And this?", HOSTILE)])])[0]
    # DOMPurify parsing the hostile answer trips the CSP (blocked, as it should be): expected.
    new_page.expect_csp_violation("script-src-attr")
    admin_page = new_page(admin["access_token"])
    _sharing(admin_page, True)

    page = new_page(owner)
    link = _make_link(page, chat_id)
    assert "/s/" in link and link.startswith(stack.url)
    dialog = page.get_by_role("dialog", name="Share this chat")
    expect(dialog.get_by_role("list", name="Links to this chat").get_by_role("listitem")).to_have_count(1)
    page.get_by_role("button", name="Close").click()

    for size, viewport, dark in (("1280", None, False), ("390", PHONE, True)):
        reader = new_page(None, model=None, dark=dark, **({"viewport": viewport} if viewport else {}))
        reader.goto(link.removeprefix(stack.url))
        expect(reader.get_by_role("heading", name="Merging lists")).to_be_visible()
        answer = reader.get_by_role("article", name="Answer").first
        expect(answer.locator("pre code")).to_contain_text("def merge")
        expect(answer.locator("strong")).to_have_text("Python")
        # Read-only: no composer, no message controls, nothing of the account that shared it.
        assert reader.locator("textarea, [contenteditable]").count() == 0
        assert reader.get_by_role("button", name="Edit").count() == 0
        assert reader.get_by_role("button", name="Regenerate").count() == 0
        body = reader.locator("body").inner_text()
        assert "sharer@example.com" not in body and "Sharon Private" not in body
        # The hostile answer is text, never markup that runs.
        expect(reader.get_by_role("article", name="Answer").nth(1)).to_contain_text("Look:")
        assert reader.evaluate("window.__pwned") is None
        assert reader.locator("article img[src='x']").count() == 0
        assert [e for e in reader.evaluate(PAST_RIGHT_EDGE) if not e.startswith("span.hljs")] == []
        assert _axe(reader) == []
        screenshot(reader, f"shared-{'dark' if dark else 'light'}-{size}")

    # Revoked from the chat's dialog: the link stops at once.
    page.get_by_role("button", name="Share").click()
    page.get_by_role("button", name="Revoke the link").first.click()
    expect(dialog.get_by_role("list", name="Links to this chat")).to_have_count(0)
    reader = new_page(None, model=None)
    reader.goto(link.removeprefix(stack.url))
    expect(reader.get_by_role("heading", name="This link does not work")).to_be_visible()

    # Sharing turned off by the admin: every link stops, and making one says why.
    second = _make_link(page, chat_id)
    screenshot(page, "share-dialog-light-1280")
    page.set_viewport_size(PHONE)
    assert [e for e in page.evaluate(PAST_RIGHT_EDGE) if not e.startswith("span.hljs")] == []
    assert _axe(page) == []
    screenshot(page, "share-dialog-light-390")
    page.get_by_role("button", name="Close").click()
    _sharing(admin_page, False)
    reader.goto(second.removeprefix(stack.url))
    expect(reader.get_by_role("heading", name="This link does not work")).to_be_visible()
    page.get_by_role("button", name="Share").click()
    dialog.get_by_role("button", name="Create a link").click()
    expect(dialog.get_by_role("alert")).to_contain_text("turned off")

"""An empty chat offers prompts to start from: one click puts it in the message box, ready to
edit or send."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, PHONE
from tests.browser.helpers import composer, token_for, wait_status


def test_a_suggestion_fills_the_message_box(new_page, stack):
    token = token_for(stack, "ideas@example.com", PASSWORD, "Ida")
    page = new_page(token)
    page.goto("/")
    suggestions = page.get_by_role("list", name="Suggestions").get_by_role("button")
    expect(suggestions).to_have_count(4)
    text = suggestions.nth(1).inner_text()
    suggestions.nth(1).click()
    expect(composer(page)).to_have_value(text)
    expect(composer(page)).to_be_focused()
    composer(page).press("Enter")
    wait_status(page, "complete")
    expect(page.get_by_role("list", name="Suggestions")).to_have_count(0)  # a chat now

    phone = new_page(token, viewport=PHONE)
    phone.goto("/")
    visible = phone.get_by_role("list", name="Suggestions").get_by_role("button")
    expect(visible.nth(0)).to_be_visible()
    expect(visible.nth(2)).to_be_hidden()  # two fit a phone

"""The chat list: endless scroll, search, rename, pin, archive and delete, each through the
sidebar and checked against the server."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.helpers import token_for
from tests.browser.seed import conversation, import_chats


def test_the_chat_list_scrolls_searches_and_edits(new_page, stack):
    token = token_for(stack, "lists@example.com", PASSWORD, "Lee")
    chats = [conversation(f"Imported chat {n:02d}", [(f"question {n}", f"answer {n}")]) for n in range(45)]
    chats[7] = conversation("Zoo trip", [("Where do zebras live?", "On the savanna.")])
    import_chats(stack, token, chats)

    page = new_page(token)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Chats")
    links = nav.get_by_role("link")
    expect(links).to_have_count(30)  # the first page
    links.nth(29).scroll_into_view_if_needed()
    expect(links).to_have_count(45)  # endless scroll fetched the rest

    # Search finds chats by their messages too.
    page.get_by_role("searchbox", name="Search chats").fill("zebras")
    expect(links).to_have_count(1)
    expect(links.first).to_have_text("Zoo trip")
    page.get_by_role("searchbox", name="Search chats").fill("")
    expect(links).to_have_count(30)

    # Rename.
    target = nav.get_by_role("listitem").filter(has_text="Imported chat 44")
    target.get_by_role("button", name="Actions for Imported chat 44").click()
    page.get_by_role("menuitem", name="Rename").click()
    title = page.get_by_role("textbox", name="Chat title")
    title.fill("Holiday plans")
    title.press("Enter")
    expect(nav.get_by_role("link", name="Holiday plans")).to_be_visible()

    # Pin: it moves to the top, under "Pinned".
    nav.get_by_role("button", name="Actions for Holiday plans").click()
    page.get_by_role("menuitem", name="Pin").click()
    expect(nav.get_by_role("heading", name="Pinned")).to_be_visible()
    expect(links.first).to_contain_text("Holiday plans")

    # Archive: it leaves the list and shows under Archived.
    nav.get_by_role("button", name="Actions for Imported chat 43").click()
    page.get_by_role("menuitem", name="Archive").click()
    expect(nav.get_by_role("link", name="Imported chat 43")).to_have_count(0)
    page.get_by_role("button", name="Archived").click()
    expect(links).to_have_count(1)
    expect(links.first).to_have_text("Imported chat 43")
    page.get_by_role("button", name="Chats", exact=True).click()

    # Delete, after a confirmation, from the open chat.
    nav.get_by_role("link", name="Imported chat 42").click()
    expect(page.get_by_role("heading", name="Imported chat 42", level=1)).to_be_visible()
    expect(page.get_by_role("article", name="Your message").locator(".bubble")).to_have_text("question 42")
    nav.get_by_role("button", name="Actions for Imported chat 42").click()
    page.get_by_role("menuitem", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(nav.get_by_role("link", name="Imported chat 42")).to_have_count(0)
    expect(page).to_have_url(stack.url + "/")

    listed = stack.api("GET", "/api/chats?limit=100", token=token)["chats"]
    titles = {c["title"]: c for c in listed}
    assert titles["Holiday plans"]["pinned"] is True
    assert "Imported chat 42" not in titles and "Imported chat 43" not in titles
    archived = stack.api("GET", "/api/chats?archived=true", token=token)["chats"]
    assert [c["title"] for c in archived] == ["Imported chat 43"]

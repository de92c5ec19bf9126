"""Select several chats in the sidebar, then archive, unarchive or delete them at once."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.helpers import token_for
from tests.browser.seed import conversation, import_chats


def test_several_chats_are_archived_and_deleted_at_once(new_page, stack):
    token = token_for(stack, "bulk@example.com", PASSWORD, "Bea")
    ids = import_chats(stack, token, [conversation(f"Batch {n}", [(f"q{n}", f"a{n}")]) for n in range(5)])
    by_title = {f"Batch {n}": chat_id for n, chat_id in enumerate(ids)}
    page = new_page(token)
    page.goto(f"/c/{by_title['Batch 2']}")
    nav = page.get_by_role("navigation", name="Chats")
    expect(nav.get_by_role("link")).to_have_count(5)

    page.get_by_role("button", name="Select", exact=True).click()
    bar = page.get_by_role("toolbar", name="Selected chats")
    expect(bar).to_contain_text("0 selected")
    expect(bar.get_by_role("button", name="Archive")).to_be_disabled()
    for n in (0, 1, 2):
        nav.get_by_role("checkbox", name=f"Select Batch {n}").check()
    expect(bar).to_contain_text("3 selected")
    bar.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("status").filter(has_text="Archived 3 chats")).to_be_visible()
    expect(nav.get_by_role("link")).to_have_count(2)
    expect(bar).to_contain_text("0 selected")
    expect(page.get_by_text("This chat is archived.")).to_be_visible()  # the open one, Batch 2

    page.get_by_role("button", name="Archived").click()
    expect(nav.get_by_role("link")).to_have_count(3)
    nav.get_by_role("checkbox", name="Select Batch 0").check()
    bar.get_by_role("button", name="Unarchive").click()
    expect(page.get_by_role("status").filter(has_text="Unarchived 1 chat")).to_be_visible()
    for n in (1, 2):
        nav.get_by_role("checkbox", name=f"Select Batch {n}").check()
    bar.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete 2 chats?")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text="Deleted 2 chats")).to_be_visible()
    expect(page).to_have_url(stack.url + "/")  # the open chat was among them
    expect(nav.get_by_text("No archived chats.")).to_be_visible()

    bar.get_by_role("button", name="Done").click()
    expect(bar).to_have_count(0)
    expect(nav.get_by_role("checkbox")).to_have_count(0)
    listed = {c["title"]: c for c in stack.api("GET", "/api/chats?limit=100", token=token)["chats"]}
    assert sorted(listed) == ["Batch 0", "Batch 3", "Batch 4"] and not listed["Batch 0"]["archived"]
    assert stack.api("GET", "/api/chats?archived=true", token=token)["chats"] == []

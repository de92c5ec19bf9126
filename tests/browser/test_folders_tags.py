"""Folders and tags through the page: make a folder, put a chat in it from its menu and
two more from Select mode, tag a chat, filter the sidebar by folder and by tag, rename and
delete the folder (its chats stay, in no folder); screenshots at both sizes with axe-core."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot
from tests.browser.helpers import token_for
from tests.browser.pages import PAST_RIGHT_EDGE
from tests.browser.seed import conversation, import_chats
from tests.browser.test_phone_and_axe import _axe

PHONE = {"width": 390, "height": 844}
TITLES = ("Garden plans", "Tax notes", "Bike repair", "Recipes")


def _fits(page) -> None:
    assert [e for e in page.evaluate(PAST_RIGHT_EDGE) if not e.startswith("span.hljs")] == []
    assert _axe(page) == []


def _shown(nav) -> list[str]:
    return sorted(nav.locator("li .title").all_inner_texts())


def test_folders_and_tags_organize_and_filter_the_sidebar(new_page, stack, admin):
    del admin  # signed up first, so this test's user is not the stack's first (its admin)
    token = token_for(stack, "organizer@example.com", PASSWORD, "Ora")
    import_chats(stack, token, [conversation(t, [("q", "a")]) for t in TITLES])
    page = new_page(token)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Chats")
    expect(nav.get_by_role("link")).to_have_count(4)

    # A folder, made in the Folders dialog.
    page.get_by_role("button", name="Folders", exact=True).click()
    folders = page.get_by_role("dialog", name="Folders")
    folders.get_by_label("New folder name").fill("Home")
    folders.get_by_role("button", name="Add").click()
    expect(folders.get_by_role("list", name="Your folders")).to_contain_text("Home")
    folders.get_by_role("button", name="Close").click()

    # One chat from its menu: into the folder, and a tag.
    nav.get_by_role("button", name="Actions for Garden plans").click()
    page.get_by_role("menuitem", name="Folder and tags…").click()
    dialog = page.get_by_role("dialog", name="Folder and tags")
    with page.expect_response(lambda r: r.url.endswith("/api/chats/move")) as moved:
        dialog.get_by_label("Folder").select_option(label="Home")
    assert moved.value.ok
    dialog.get_by_label("New tag").fill("Outdoors")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog.get_by_role("button", name="Remove the tag outdoors")).to_be_visible()
    screenshot(page, "chat-labels-light-1280")
    _fits(page)
    dialog.get_by_role("button", name="Done").click()
    expect(nav.locator("li", has_text="Garden plans")).to_contain_text("#outdoors")

    # Two more from Select mode's bar.
    page.get_by_role("button", name="Select", exact=True).click()
    nav.get_by_role("checkbox", name="Select Bike repair").check()
    nav.get_by_role("checkbox", name="Select Recipes").check()
    page.get_by_role("toolbar", name="Selected chats").get_by_label("Move to folder").select_option(label="Home")
    expect(page.get_by_role("region", name="Notifications")).to_contain_text("Moved 2 chats")
    page.get_by_role("button", name="Done").click()

    # The sidebar filtered by folder, then by tag.
    page.get_by_label("Folder", exact=True).select_option(label="Home (3)")
    expect(nav.get_by_role("link")).to_have_count(3)
    assert _shown(nav) == ["Bike repair", "Garden plans", "Recipes"]
    page.get_by_label("Folder", exact=True).select_option(label="No folder")
    expect(nav.get_by_role("link")).to_have_count(1)
    page.get_by_label("Folder", exact=True).select_option(label="All folders")
    page.get_by_label("Tag", exact=True).select_option(label="#outdoors (1)")
    expect(nav.get_by_role("link")).to_have_count(1)
    expect(nav.get_by_role("link")).to_contain_text("Garden plans")
    screenshot(page, "folders-filter-light-1280")
    page.get_by_label("Tag", exact=True).select_option(label="All tags")
    expect(nav.get_by_role("link")).to_have_count(4)

    # Renamed, then deleted: the chats stay, in no folder.
    page.get_by_role("button", name="Folders", exact=True).click()
    folders.get_by_role("button", name="Rename Home").click()
    folders.get_by_label("New name for Home").fill("House")
    folders.get_by_role("button", name="Save").click()
    expect(folders.get_by_role("list", name="Your folders")).to_contain_text("House")
    folders.get_by_role("button", name="Delete House").click()
    page.get_by_role("dialog", name="Delete the folder “House”?").get_by_role("button", name="Delete").click()
    expect(folders.get_by_text("No folders yet")).to_be_visible()
    folders.get_by_role("button", name="Close").click()
    page.get_by_label("Folder", exact=True).select_option(label="No folder")
    expect(nav.get_by_role("link")).to_have_count(4)

    # The phone, dark: the folders dialog in the drawer.
    phone = new_page(token, viewport=PHONE, dark=True)
    phone.goto("/")
    phone.get_by_role("button", name="Open the sidebar").click()
    phone_nav = phone.get_by_role("navigation", name="Chats")
    phone_nav.get_by_role("button", name="Actions for Garden plans").click()
    phone.get_by_role("menuitem", name="Folder and tags…").click()
    expect(phone.get_by_role("dialog", name="Folder and tags").get_by_role(
        "button", name="Remove the tag outdoors")).to_be_visible()
    _fits(phone)
    screenshot(phone, "chat-labels-dark-390")
    phone.get_by_role("button", name="Done").click()
    _fits(phone)
    screenshot(phone, "folders-filter-dark-390")

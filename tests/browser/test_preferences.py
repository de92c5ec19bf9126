"""Personal settings on the account page, kept on the server: they follow the person to a
fresh browser (theme, default model, send key, the system prompt of new chats, the avatar)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, TEST_MODEL
from tests.browser.helpers import chat_id, composer, token_for, wait_status


def test_settings_follow_the_person_to_another_browser(new_page, stack):
    token = token_for(stack, "settler@example.com", PASSWORD, "Set")
    page = new_page(token)
    page.goto("/account")
    page.get_by_role("radio", name="Dark").check()
    page.get_by_label("Default model for new chats").select_option(TEST_MODEL)
    expect(page.get_by_role("status").filter(has_text="Default model saved")).to_be_visible()
    page.get_by_role("checkbox", name="Send with Enter").uncheck()
    expect(page.get_by_role("status").filter(has_text="Send key saved")).to_be_visible()
    page.get_by_label("System prompt for new chats").fill("Always answer in French.")
    page.get_by_role("button", name="Save system prompt").click()
    expect(page.get_by_role("status").filter(has_text="System prompt saved")).to_be_visible()
    assert stack.api("GET", "/api/auth/preferences", token=token) == {
        "default_model": TEST_MODEL, "theme": "dark", "send_on_enter": False,
        "system_prompt": "Always answer in French.", "avatar": None}

    # Another browser: nothing in its storage but the sign-in.
    fresh = new_page(token, model=None)
    fresh.goto("/")
    expect(fresh.locator("html")).to_have_attribute("data-theme", "dark")
    expect(fresh.locator("#model-picker")).to_have_value(TEST_MODEL)
    expect(fresh.get_by_text("Ctrl+Enter to send")).to_be_visible()
    box = composer(fresh)
    box.fill("Bonjour [[tokens=3]]")
    box.press("Enter")  # a new line now, not a send
    expect(box).to_have_value("Bonjour [[tokens=3]]\n")
    expect(fresh.get_by_role("article", name="Your message")).to_have_count(0)
    box.press("Control+Enter")
    wait_status(fresh, "complete")
    chat = stack.api("GET", f"/api/chats/{chat_id(fresh)}", token=token)["chat"]
    assert chat["system_prompt"] == "Always answer in French." and chat["model"] == TEST_MODEL

    # Back to the defaults: Enter sends again.
    fresh.goto("/account")
    fresh.get_by_role("checkbox", name="Send with Enter").check()
    expect(fresh.get_by_role("status").filter(has_text="Send key saved")).to_be_visible()
    assert stack.api("GET", "/api/auth/preferences", token=token)["send_on_enter"] is True


def test_the_name_is_changed_on_the_account_page(new_page, stack):
    token = token_for(stack, "profile-name@example.com", PASSWORD, "Robin")
    page = new_page(token)
    page.goto("/account")
    name = page.get_by_role("region", name="Profile").get_by_role("textbox", name="Name", exact=True)
    expect(name).to_have_value("Robin")
    expect(page.get_by_role("button", name="Save name")).to_be_disabled()
    name.fill("Robin Hood")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status").filter(has_text="Name saved")).to_be_visible()
    expect(page.get_by_role("complementary", name="Sidebar")).to_contain_text("Robin Hood")
    assert stack.api("GET", "/api/auth/me", token=token)["name"] == "Robin Hood"
    page.goto("/")
    expect(page.get_by_role("heading", name="How can I help, Robin?")).to_be_visible()


def test_the_avatar_is_chosen_on_the_account_page_and_shown_in_the_sidebar(new_page, stack):
    token = token_for(stack, "avatar-pick@example.com", PASSWORD, "Kim")
    page = new_page(token)
    page.goto("/account")
    sidebar_avatar = page.get_by_role("complementary", name="Sidebar").locator(".avatar")
    expect(sidebar_avatar).to_have_text("K")
    expect(sidebar_avatar).to_have_attribute("data-avatar", "initial")
    avatars = page.get_by_role("group", name="Avatar")
    expect(avatars.get_by_role("radio", name="Initial", exact=True)).to_be_checked()

    avatars.get_by_role("radio", name="Initial on teal").check()
    expect(page.get_by_role("status").filter(has_text="Avatar saved")).to_be_visible()
    expect(sidebar_avatar).to_have_text("K")
    expect(sidebar_avatar).to_have_attribute("data-avatar", "teal")
    expect(sidebar_avatar).to_have_css("background-color", "rgb(15, 118, 110)")
    assert stack.api("GET", "/api/auth/preferences", token=token)["avatar"] == "teal"

    avatars.get_by_role("radio", name="Emoji 🦊").check()
    expect(sidebar_avatar).to_have_text("🦊")
    assert stack.api("GET", "/api/auth/preferences", token=token)["avatar"] == "🦊"

    # Another browser shows it too, and the account page has it chosen.
    fresh = new_page(token)
    fresh.goto("/account")
    expect(fresh.get_by_role("complementary", name="Sidebar").locator(".avatar")).to_have_text("🦊")
    expect(fresh.get_by_role("group", name="Avatar").get_by_role("radio", name="Emoji 🦊")).to_be_checked()
    fresh.get_by_role("group", name="Avatar").get_by_role("radio", name="Initial", exact=True).check()
    expect(fresh.get_by_role("complementary", name="Sidebar").locator(".avatar")).to_have_text("K")
    assert stack.api("GET", "/api/auth/preferences", token=token)["avatar"] is None

"""What an outside check of issue 19 found: the compare dialog's math laid out like the
answer's, the keyboard focus kept after bulk actions and the scroll-to-latest button, the
phone's sidebar drawer usable from the keyboard, and an import refused by version or by the
server naming the file."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, TEST_MODEL
from tests.browser.helpers import composer, last_answer, send, token_for, wait_status
from tests.browser.pages import RICH_ANSWER
from tests.browser.seed import MARKDOWN_ANSWER, conversation, import_chats

PHONE = {"width": 390, "height": 844}


def test_the_compare_dialog_lays_out_math(new_page, stack):
    token = token_for(stack, "mathcompare@example.com", PASSWORD, "Max")
    [chat] = import_chats(stack, token, [conversation("Formulas", [("Show me", RICH_ANSWER)])])
    page = new_page(token)
    page.goto(f"/c/{chat}")
    expect(last_answer(page).locator(".katex")).to_have_count(2)
    last_answer(page).get_by_role("button", name="Compare answers").click()
    dialog = page.get_by_role("dialog", name="Compare answers")
    expect(dialog.locator(".katex")).to_have_count(2)
    # KaTeX's layout (fraction bars, sub- and superscripts) is set through the CSSOM; left as
    # data-katex-style, a fraction's parts are drawn over each other.
    expect(dialog.locator("[data-katex-style]")).to_have_count(0)
    assert dialog.locator(".katex-display .vlist[style]").count() > 0
    # The displayed formula's height in its own font size, as in the answer (the dialog's text is smaller).
    size = "(el) => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).fontSize)"
    shown = dialog.locator(".katex-display").evaluate(size)
    assert abs(shown - last_answer(page).locator(".katex-display").evaluate(size)) < 0.1, shown


def test_the_keyboard_focus_stays_after_bulk_actions_and_the_jump_button(new_page, stack):
    token = token_for(stack, "keyfocus@example.com", PASSWORD, "Kit")
    ids = import_chats(stack, token, [conversation(f"Pile {n}", [(f"q{n}", MARKDOWN_ANSWER)] * 6) for n in range(3)])
    page = new_page(token)
    page.goto(f"/c/{ids[2]}")
    expect(last_answer(page)).to_be_visible()
    nav = page.get_by_role("navigation", name="Chats")
    bar = page.get_by_role("toolbar", name="Selected chats")
    select = page.get_by_role("button", name="Select", exact=True)

    select.focus()
    page.keyboard.press("Enter")
    nav.get_by_role("checkbox", name="Select Pile 0").focus()
    page.keyboard.press("Space")
    bar.get_by_role("button", name="Archive").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Archived 1 chat")).to_be_visible()
    expect(bar.get_by_role("button", name="Done")).to_be_focused()  # not the page's start

    nav.get_by_role("checkbox", name="Select Pile 1").focus()
    page.keyboard.press("Space")
    bar.get_by_role("button", name="Delete").focus()
    page.keyboard.press("Enter")
    page.get_by_role("dialog", name="Delete 1 chat?").get_by_role("button", name="Delete").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Deleted 1 chat")).to_be_visible()
    expect(bar.get_by_role("button", name="Done")).to_be_focused()
    page.keyboard.press("Enter")
    expect(bar).to_have_count(0)
    expect(select).to_be_focused()

    # The scroll-to-latest button goes away when used: the focus goes to the message box.
    page.get_by_role("log", name="Conversation").hover()
    page.mouse.wheel(0, -3000)
    jump = page.get_by_role("button", name="Scroll to the latest message")
    jump.focus()
    page.keyboard.press("Enter")
    expect(jump).to_have_count(0)
    expect(composer(page)).to_be_focused()


def test_an_import_refused_by_version_or_by_the_server_names_the_file(new_page, stack, tmp_path):
    token = token_for(stack, "badimport@example.com", PASSWORD, "Bad")
    page = new_page(token)
    page.goto("/account")

    def choose(name, body):
        (tmp_path / name).write_text(json.dumps(body))
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Import chats…").click()
        chooser.value.set_files(str(tmp_path / name))

    choose("future.json", {"format": "omnichat.chats", "version": 9, "chats": []})
    expect(page.get_by_text("future.json is an export of another version (9)")).to_be_visible()
    chats = [{"title": "t", "messages": [{"id": "a", "role": "wizard", "content": "x"}]}]
    choose("odd.json", {"format": "omnichat.chats", "version": 1, "chats": chats})
    expect(page.get_by_text("Could not import odd.json: chats.0.messages.0.role")).to_be_visible()
    assert stack.api("GET", "/api/chats", token=token)["chats"] == []


def test_the_phone_drawer_takes_and_gives_back_the_keyboard_focus(new_page, stack):
    token = token_for(stack, "drawer@example.com", PASSWORD, "Dru")
    page = new_page(token, viewport=PHONE)
    page.goto("/")
    expect(composer(page)).to_be_visible()
    sidebar = page.get_by_role("complementary", name="Sidebar")
    menu = page.get_by_role("button", name="Open the sidebar")

    # Ctrl+K opens the drawer with the search box focused (it was hidden while sliding in).
    page.keyboard.press("Control+k")
    expect(sidebar.get_by_role("searchbox", name="Search chats")).to_be_focused()
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(composer(page)).to_be_focused()

    # The menu button: the focus moves into the drawer (it comes first in the page, Tab from
    # the button would skip it); Esc or its close button closes it and gives the focus back.
    menu.focus()
    page.keyboard.press("Enter")
    expect(sidebar.get_by_role("button", name="Close the sidebar")).to_be_focused()
    page.keyboard.press("Tab")
    expect(sidebar.get_by_role("button", name="New chat")).to_be_focused()
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    expect(sidebar.get_by_role("button", name="Close the sidebar")).to_be_focused()
    page.keyboard.press("Enter")
    expect(sidebar).to_be_hidden()
    expect(menu).to_be_focused()


def test_the_keyboard_focus_stays_when_a_message_is_replaced(new_page, stack):
    """Regenerate, versions, compare and edit replace the message (or disable its buttons while
    the answer is written): the focus goes to the same control in the new version, or to the
    message box, never to the page's start."""
    token = token_for(stack, "refocus@example.com", PASSWORD, "Ray")
    page = new_page(token)
    page.goto("/")
    send(page, "Name three lakes [[tokens=8]]")
    wait_status(page, "complete")

    def press(locator):
        locator.focus()
        page.keyboard.press("Enter")

    press(last_answer(page).get_by_role("button", name="Regenerate answer"))
    expect(composer(page)).to_be_focused()
    wait_status(page, "complete")
    press(last_answer(page).get_by_role("button", name="Previous version"))
    expect(last_answer(page).get_by_role("group", name="Versions of this message")).to_contain_text("1 / 2")
    expect(last_answer(page).get_by_role("button", name="Next version")).to_be_focused()

    press(last_answer(page).get_by_role("button", name="Compare answers"))
    dialog = page.get_by_role("dialog", name="Compare answers")
    press(dialog.get_by_role("region").nth(1).get_by_role("button", name="Continue with this answer"))
    expect(dialog).to_have_count(0)
    expect(last_answer(page).get_by_role("group", name="Versions of this message")).to_contain_text("2 / 2")
    expect(last_answer(page).get_by_role("button", name="Compare answers")).to_be_focused()
    press(last_answer(page).get_by_role("button", name="Compare answers"))
    dialog.get_by_label("Ask another model").select_option(TEST_MODEL)
    press(dialog.get_by_role("button", name="Answer", exact=True))
    expect(composer(page)).to_be_focused()
    wait_status(page, "complete")

    question = page.get_by_role("article", name="Your message").last
    press(question.get_by_role("button", name="Edit message"))
    editor = page.get_by_role("textbox", name="Edit your message")
    editor.press("Escape")
    expect(composer(page)).to_be_focused()
    press(question.get_by_role("button", name="Edit message"))
    editor.fill("Name three seas [[tokens=5]]")
    editor.press("Enter")
    expect(composer(page)).to_be_focused()
    wait_status(page, "complete")


def test_a_phone_shows_the_whole_answer_footer(new_page, stack):
    token = token_for(stack, "footer@example.com", PASSWORD, "Fay")
    [chat] = import_chats(stack, token, [conversation("Timed", [("How fast?", "Quite fast.")])])
    page = new_page(token, viewport=PHONE)
    page.goto(f"/c/{chat}")
    meta = last_answer(page).locator(".meta")
    expect(meta).to_contain_text("180 tokens · 2.3 s · 78.3 tokens/s")
    # Not cut with an ellipsis: the model, tokens and speed get a line of their own.
    assert meta.evaluate("(el) => el.scrollWidth <= el.clientWidth")


def test_a_phone_keeps_the_model_name_readable_beside_a_long_title(new_page, stack):
    token = token_for(stack, "longtitle@example.com", PASSWORD, "Lon")
    title = "While the while function waits for the stream to finish its very long sentence"
    [chat] = import_chats(stack, token, [conversation(title, [("q", "a")])])
    page = new_page(token, viewport=PHONE)
    page.goto(f"/c/{chat}")
    picker = page.get_by_role("combobox", name="Model")
    expect(picker).to_be_enabled()
    # The title gives way (it ends in "…"); the picker was squeezed to "on▾".
    assert picker.bounding_box()["width"] >= 120
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")

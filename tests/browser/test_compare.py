"""Compare: answer the same question with another model, see the answers side by side, and
choose the one the chat continues from. (The test stack serves one model, so the second
answer comes from the same model; the mechanics are the same for any two.)"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, TEST_MODEL
from tests.browser.helpers import answers, last_answer, send, token_for, wait_status


def test_two_answers_side_by_side_and_the_chosen_one_continues(new_page, stack):
    token = token_for(stack, "compare@example.com", PASSWORD, "Cora")
    page = new_page(token)
    page.goto("/")
    send(page, "Name three rivers [[tokens=12]]")
    wait_status(page, "complete")
    first = last_answer(page).locator(".prose").inner_text()

    last_answer(page).get_by_role("button", name="Compare answers").click()
    dialog = page.get_by_role("dialog", name="Compare answers")
    expect(dialog.get_by_role("region")).to_have_count(1)
    expect(dialog.get_by_text("The chat continues from this answer")).to_be_visible()
    dialog.get_by_label("Ask another model").select_option(TEST_MODEL)
    dialog.get_by_role("button", name="Answer").click()
    expect(dialog).to_have_count(0)
    wait_status(page, "complete")
    expect(last_answer(page).get_by_role("group", name="Versions of this message")).to_contain_text("2 / 2")

    last_answer(page).get_by_role("button", name="Compare answers").click()
    columns = dialog.get_by_role("region")
    expect(columns).to_have_count(2)
    expect(columns.nth(0)).to_have_accessible_name("Answer 1 of 2, from omnichat-test")
    expect(columns.nth(0).locator(".prose")).to_have_text(first)
    box = [columns.nth(i).bounding_box() for i in range(2)]
    assert box[0]["y"] == box[1]["y"] and box[0]["x"] < box[1]["x"]  # side by side
    expect(columns.nth(1)).to_contain_text("The chat continues from this answer")
    columns.nth(0).get_by_role("button", name="Continue with this answer").click()
    expect(dialog).to_have_count(0)
    expect(last_answer(page).get_by_role("group", name="Versions of this message")).to_contain_text("1 / 2")
    expect(last_answer(page).locator(".prose")).to_have_text(first)
    assert answers(page).count() == 1

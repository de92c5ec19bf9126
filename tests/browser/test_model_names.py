"""One display name per model, from one source (GET /api/models): the picker, the answer's
footer, the admin's models and usage pages all show it, and the API takes it back."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, TEST_MODEL
from tests.browser.helpers import last_answer, send, token_for, wait_status

NAME = "Echo Bot 1"


def test_a_model_is_shown_by_one_name_everywhere_and_the_api_accepts_it(new_page, stack, admin):
    admin_token = admin["access_token"]
    stack.api("PATCH", f"/api/models/{TEST_MODEL}", {"display_name": NAME}, token=admin_token)
    try:
        user_token = token_for(stack, "names@example.com", PASSWORD, "Nia")
        page = new_page(user_token)
        page.goto("/")
        expect(page.locator("#model-picker option:checked")).to_have_text(NAME)
        send(page, "Who answers? [[tokens=3]]")
        wait_status(page, "complete")
        expect(last_answer(page)).to_contain_text(NAME)
        expect(page.get_by_text("omnichat-test")).to_have_count(0)  # no raw id anywhere on the page

        # The API takes the name the page shows, and any unambiguous bare name, as the full id.
        for name in (NAME, NAME.upper(), "omnichat-test", "omnichat-test:latest"):
            assert stack.api("POST", "/api/chats", {"model": name}, token=user_token)["model"] == TEST_MODEL

        page = new_page(admin_token)
        page.goto("/admin/usage")
        expect(page.get_by_role("img", name="Tokens per day by model")).to_be_visible()
        expect(page.get_by_role("row", name=NAME)).to_be_visible()
        expect(page.get_by_role("main").get_by_text("omnichat-test")).to_have_count(0)
        page.get_by_role("link", name="Models").click()
        expect(page.get_by_label(f"Display name of {TEST_MODEL}")).to_have_value(NAME)
    finally:
        stack.api("PATCH", f"/api/models/{TEST_MODEL}", {"display_name": None}, token=admin_token)

"""The admin Models page's Fallbacks field: a chain is saved as typed, and one the server
refuses (the model itself) says why in a toast and shows the saved chain again."""

from __future__ import annotations

from contextlib import contextmanager

from playwright.sync_api import expect

TEST = "ollama/omnichat-test:latest"
OTHER = "ollama/smollm2:135m"


def _ensure_second_model(stack, admin) -> None:
    models = stack.api("GET", "/api/models", token=admin["access_token"])["models"]
    if all(m["id"] != OTHER for m in models):
        stack.api("POST", "/api/models/pull", {"model": OTHER}, token=admin["access_token"])


@contextmanager
def saved_and_reloaded(page):  # type: ignore[no-untyped-def]
    """The PATCH a change sends (yielded), and the list the page loads again after it: a
    field typed in before that reload lands would be redrawn from it."""
    with page.expect_response(lambda r: r.request.method == "GET" and r.url.endswith("/api/models")):
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/api/models/" in r.url) as patched:
            yield patched


def test_an_admin_sets_a_chain_and_a_refused_one_says_why(new_page, stack, admin):
    _ensure_second_model(stack, admin)
    page = new_page(admin["access_token"])
    page.goto("/admin/models")
    field = page.get_by_label(f"Fallback models of {TEST}, in order, separated by commas")
    try:
        field.fill(OTHER)
        with saved_and_reloaded(page) as patched:
            field.press("Enter")
        assert patched.value.ok, patched.value.text()
        expect(field).to_have_value(OTHER)

        field.fill(f"{OTHER}, {TEST}")
        with saved_and_reloaded(page) as refused:
            field.press("Enter")
        assert refused.value.status == 400
        toast = page.get_by_role("region", name="Notifications").get_by_role("alert")
        expect(toast).to_contain_text("cannot fall back to itself")
        expect(field).to_have_value(OTHER)  # the chain as saved, not the refused text
        page.reload()
        expect(page.get_by_label(f"Fallback models of {TEST}, in order, separated by commas")).to_have_value(OTHER)
    finally:
        stack.api("PATCH", f"/api/models/{TEST}", {"fallbacks": None}, token=admin["access_token"])

"""The admin Models page's "Keep loaded" field and "Load" button: the keep-alive is saved
as the server checked it, a refused one says why, and Load puts the model in memory for
that long (the bundled Ollama server's /api/ps shows it)."""

from __future__ import annotations

import json
import urllib.request

from playwright.sync_api import expect

TEST = "ollama/omnichat-test:latest"


def loaded_until(stack) -> str | None:  # type: ignore[no-untyped-def]
    with urllib.request.urlopen(stack.ollama_url + "/api/ps", timeout=10) as r:
        models = json.load(r)["models"]
    return next((m["expires_at"] for m in models if m["model"] == TEST.removeprefix("ollama/")), None)


def test_an_admin_keeps_a_model_loaded_and_loads_it_now(new_page, stack, admin):
    page = new_page(admin["access_token"])
    page.goto("/admin/models")
    field = page.get_by_label(f"How long {TEST} stays loaded after a call")
    try:
        field.fill("forever")
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/api/models/" in r.url) as refused:
            field.press("Enter")
        assert refused.value.status == 400
        toast = page.get_by_role("region", name="Notifications").get_by_role("alert")
        expect(toast).to_contain_text("duration such as 30s")
        expect(field).to_have_value("")  # the saved value: the server's default

        field.fill("-1")
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/api/models/" in r.url) as patched:
            field.press("Enter")
        assert patched.value.ok, patched.value.text()
        page.reload()
        expect(page.get_by_label(f"How long {TEST} stays loaded after a call")).to_have_value("-1")

        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/models/load")) as load:
            page.get_by_role("button", name=f"Load {TEST} into memory").click()
        assert load.value.ok, load.value.text()
        expect(page.get_by_role("region", name="Notifications").get_by_role("status")).to_contain_text("is loaded")
        assert (loaded_until(stack) or "").startswith("2318")  # kept for good
    finally:
        stack.api("PATCH", f"/api/models/{TEST}", {"keep_alive": None}, token=admin["access_token"])
        stack.api("POST", "/api/models/load", {"model": TEST}, token=admin["access_token"])  # back to the default

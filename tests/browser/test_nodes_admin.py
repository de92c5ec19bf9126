"""The admin page's Nodes tab: every Ollama node with its health, loaded models and
requests in flight (the shared browser stack runs one bundled node)."""

from __future__ import annotations

from playwright.sync_api import expect


def test_an_admin_sees_the_ollama_node_and_the_model_loaded_on_it(new_page, stack, admin):
    stack.api("POST", "/api/models/load", {"model": "ollama/omnichat-test:latest"}, token=admin["access_token"])
    page = new_page(admin["access_token"])
    page.goto("/admin/nodes")
    table = page.get_by_role("table")
    row = table.get_by_role("row").filter(has_text=stack.ollama_url)
    expect(row).to_contain_text("healthy")
    expect(row).to_contain_text("omnichat-test:latest")
    expect(page.get_by_text("1 of 1 healthy")).to_be_visible()
    expect(page.get_by_text("One node: every request goes to it")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/api/admin/ollama/nodes")) as again:
        page.get_by_role("button", name="Check again").click()
    assert again.value.ok

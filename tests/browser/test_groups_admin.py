"""The admin page's Groups tab: create a group, add a member, see the count, rename,
remove the member and delete the group; a duplicate name is a clear message."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot


def test_an_admin_manages_a_group(new_page, stack, admin):
    stack.sign_up("grace.groups@example.com", PASSWORD, "Grace")
    page = new_page(admin["access_token"])
    page.goto("/admin/groups")
    expect(page.get_by_role("heading", name="Groups")).to_be_visible()
    page.get_by_label("New group").fill("Research")
    page.get_by_role("button", name="Create group").click()
    row = page.get_by_role("row").filter(has_text="Research")
    expect(row).to_contain_text("local")
    row.get_by_role("button", name="Members").click()
    page.get_by_label("Add a member").select_option(label="grace.groups@example.com")
    page.get_by_role("button", name="Add", exact=True).click()
    members = page.get_by_role("region", name="Members of Research")
    expect(members).to_contain_text("grace.groups@example.com")
    expect(row.get_by_role("cell").nth(2)).to_have_text("1")
    screenshot(page, "admin-groups-desktop-1280")
    # The same name again (any case): refused with a message, nothing made.
    page.get_by_label("New group").fill("research")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("alert")).to_contain_text("exists already")
    row.get_by_role("button", name="Rename").click()
    page.get_by_label("New name").fill("Research team")
    page.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="Research team")
    expect(row).to_be_visible()
    members.get_by_role("button", name="Remove").click()
    expect(row.get_by_role("cell").nth(2)).to_have_text("0")
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete group").click()
    expect(page.get_by_role("row").filter(has_text="Research team")).to_have_count(0)


def test_a_model_and_a_preset_are_shared_with_a_group(new_page, stack, admin):
    token = admin["access_token"]
    member = stack.sign_up("sam.shared@example.com", PASSWORD, "Sam")
    group = stack.api("POST", "/api/admin/groups", {"name": "Pilots"}, token=token)
    stack.api("POST", f"/api/admin/groups/{group['id']}/members", {"user_id": member["user"]["id"]}, token=token)
    model = "ollama/omnichat-test:latest"
    page = new_page(token)
    try:
        page.goto("/admin/models")
        with page.expect_response(lambda r: "/api/models/" in r.url and r.request.method == "PATCH") as saved:
            page.get_by_label(f"Who can use {model}").select_option(label="Group: Pilots")
        assert saved.value.ok
        listed = {m["id"]: m for m in stack.api("GET", "/api/models", token=member["access_token"])["models"]}
        assert listed[model]["groups"] == [group["id"]] and listed[model]["visibility"] == "groups"
    finally:  # the shared stack's other tests use this model
        stack.api("PATCH", f"/api/models/{model}", {"visibility": "everyone"}, token=token)
    page.goto("/admin/presets")
    page.get_by_label("Slug").fill("pilots-only")
    page.get_by_label("Name", exact=True).fill("Pilots only")
    page.get_by_label("Base model").select_option(model)
    page.get_by_label("Visible to").select_option("groups")
    page.locator("select[name=groups]").select_option(label="Pilots")
    # "Pilots" is on the page already (the form's group list): wait for the preset itself.
    with page.expect_response(lambda r: r.request.method == "POST" and "/presets" in r.url) as created:
        page.get_by_role("button", name="Create preset").click()
    assert created.value.status == 201, created.value.text()
    expect(page.get_by_text("Pilots", exact=True).first).to_be_visible()
    mine = {m["id"] for m in stack.api("GET", "/api/models", token=member["access_token"])["models"]}
    assert "preset/pilots-only" in mine

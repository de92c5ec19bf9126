"""Budgets in the web page: an admin prices a model and gives a user a budget on the
Budgets tab (a bad limit is a clear message); the cost view offers every grouping and a CSV
export; the user sees what remains of their budget on the account page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot

MODEL = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"


def test_an_admin_sets_a_price_and_a_budget_and_the_user_sees_what_remains(new_page, stack, admin):
    person = stack.sign_up("bea.budget@example.com", PASSWORD, "Bea")
    page = new_page(admin["access_token"])
    page.goto("/admin/budgets")
    prices = page.get_by_role("form", name="Set a price")
    prices.get_by_label("Model").fill(MODEL)
    prices.get_by_label("Input").fill("0.25")
    prices.get_by_label("Output").fill("1.25")
    prices.get_by_role("button", name="Save price").click()
    expect(page.get_by_role("row").filter(has_text=MODEL)).to_contain_text("1.25")
    budget = page.get_by_role("form", name="Set a budget")
    budget.locator("select[name=budget-subject]").select_option(label="bea.budget@example.com")
    budget.get_by_label("Tokens / day").fill("-5")
    budget.get_by_role("button", name="Save budget").click()
    expect(page.get_by_role("alert")).to_contain_text("tokens_per_day")  # refused, nothing saved
    expect(page.get_by_role("row").filter(has_text="bea.budget@example.com")).to_have_count(0)
    budget.get_by_label("Tokens / day").fill("5000")
    budget.get_by_label("USD / month").fill("2.5")
    budget.get_by_role("button", name="Save budget").click()
    row = page.get_by_role("row").filter(has_text="bea.budget@example.com")
    expect(row).to_contain_text("0 of 5,000")
    expect(row).to_contain_text("$0.00 of $2.50")
    screenshot(page, "admin-budgets-desktop-1280")
    page.goto("/admin/usage")
    cost = page.get_by_role("region", name="Cost")
    for label in ("By user", "By group", "By model", "By api key"):
        cost.get_by_role("button", name=label).click()
        expect(cost.get_by_role("table")).to_be_visible()
    cost.scroll_into_view_if_needed()
    screenshot(page, "admin-costs-desktop-1280")
    with page.expect_download() as download:
        cost.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename == "omnichat-costs-by-key.csv"
    mine = new_page(person["access_token"])
    mine.goto("/account")
    card = mine.get_by_role("region", name="Remaining budget")
    expect(card).to_contain_text("5,000")
    expect(card).to_contain_text("$2.50")

"""The admin Usage page with prompt caching: cache read and write columns and what caching
saved, per model and in total, once any call used the cache (a report in the shape of
GET /api/admin/usage, served by the test)."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

CLAUDE = "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0"


def report(days: int) -> dict:
    today = date.today().isoformat()
    rows = [
        {"date": today, "model": CLAUDE, "calls": 3, "input_tokens": 60, "output_tokens": 90,
         "cache_read_tokens": 4000, "cache_write_tokens": 2000, "saved_input_tokens": 3100},
        {"date": today, "model": "ollama/omnichat-test:latest", "calls": 2, "input_tokens": 20, "output_tokens": 30,
         "cache_read_tokens": 0, "cache_write_tokens": 0, "saved_input_tokens": 0},
    ]
    users = [{"date": today, "user": "ada@example.com", "user_id": "u0", "calls": 5, "input_tokens": 80,
              "output_tokens": 120, "cache_read_tokens": 4000, "cache_write_tokens": 2000, "saved_input_tokens": 3100}]
    return {"since": today, "days": days, "by_model": rows, "by_user": users}


def test_cache_reads_writes_and_savings_are_shown(new_page, stack, admin):
    page = new_page(admin["access_token"])
    page.route("**/api/admin/usage?*", lambda route: route.fulfill(json=report(30)))
    page.goto("/admin/usage")
    usage = page.get_by_role("region", name="Token usage")  # the Cost card below has cache columns too
    expect(usage.get_by_text("Saved by caching")).to_be_visible()
    expect(usage.locator(".stats")).to_contain_text("3,100")
    headers = usage.get_by_role("columnheader")
    expect(headers.filter(has_text="Cache read")).to_have_count(1)
    expect(headers.filter(has_text="Saved")).to_have_count(1)
    cells = usage.get_by_role("row", name="Claude").get_by_role("cell")
    expect(cells.nth(4)).to_have_text("4,000")
    expect(cells.nth(5)).to_have_text("2,000")
    expect(cells.nth(6)).to_have_text("3,100")
    usage.get_by_role("button", name="By user").click()
    expect(usage.get_by_role("row", name="ada@example.com").get_by_role("cell").nth(6)).to_have_text("3,100")

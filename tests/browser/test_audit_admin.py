"""The admin page's Audit tab: a refused sign-in shows up with who and what, the filters
narrow the list, the export downloads a CSV of the filtered log, and the retention is saved."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot


def test_an_admin_finds_a_refused_sign_in_and_exports_it(new_page, stack, admin):
    person = stack.sign_up("auditee@example.com", PASSWORD, "Audrey")
    with pytest.raises(AssertionError, match="401"):
        stack.sign_in("auditee@example.com", "not the password")

    page = new_page(admin["access_token"])
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.get_by_role("region", name="Audit log").locator("tbody tr").first).to_be_visible()  # unfiltered
    page.get_by_label("Who").fill("auditee@example.com")
    page.get_by_label("What").select_option(label="Failed sign-ins")
    with page.expect_response(lambda r: "/api/admin/audit?" in r.url) as listed:
        page.get_by_role("button", name="Show").click()
    assert listed.value.ok, listed.value.url
    rows = page.get_by_role("region", name="Audit log").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Sign-in refused")
    expect(rows.first).to_contain_text("auditee@example.com")
    expect(rows.first).to_contain_text(f"user {person['user']['id']}")
    expect(rows.first).not_to_contain_text("not the password")
    screenshot(page, "admin-audit-desktop-1280")

    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert [(r["action"], r["actor_label"]) for r in table] == [("auth.sign_in_failed", "auditee@example.com")]

    retention = page.get_by_label("Keep audit entries for (days)")
    expect(retention).to_have_value("365")
    retention.fill("400")
    saved = lambda r: r.url.endswith("/api/admin/audit/settings") and r.request.method == "PUT"  # noqa: E731
    with page.expect_response(saved) as put:
        page.get_by_role("button", name="Save").click()
    assert put.value.ok
    page.reload()
    expect(page.get_by_label("Keep audit entries for (days)")).to_have_value("400")

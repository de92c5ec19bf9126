"""Signing up and in through the page: the first user becomes the admin; with the
approval policy a new user waits on a clear page until an admin approves them."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, PHONE, report_csp_violations, screenshot
from tests.browser.stack import start_stack


def test_the_first_user_signs_up_and_becomes_admin(new_page, playwright_browser, stack, tmp_path):
    # A platform of its own, so this really is the first account (same model server).
    fresh = start_stack(tmp_path / "fresh", ollama_url=stack.ollama_url)
    violations: list[str] = []  # these contexts are not new_page's: they listen on their own
    try:
        context = playwright_browser.new_context(viewport={"width": 1280, "height": 820}, base_url=fresh.url)
        report_csp_violations(context, violations.append)
        page = context.new_page()
        page.goto("/")
        # A brand-new server says so (GET /api/auth/options), not "Welcome back" (issue 19 item 12).
        expect(page.get_by_role("heading", name="Welcome to OmniChat")).to_be_visible()
        expect(page.get_by_role("heading", name="Welcome back")).to_have_count(0)
        screenshot(page, "signin-desktop-1280")
        page.get_by_role("link", name="Create the administrator account").click()
        expect(page.get_by_role("heading", name="Create the administrator account")).to_be_visible()
        expect(page.get_by_text("the first one becomes its administrator")).to_be_visible()
        page.get_by_label("Name").fill("Grace Hopper")
        page.get_by_label("Email").fill("grace@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()

        expect(page.get_by_role("heading", name="How can I help, Grace?")).to_be_visible()
        expect(page.get_by_role("status").filter(has_text="you are the administrator")).to_be_visible()
        expect(page.get_by_role("link", name="Admin")).to_be_visible()
        page.get_by_role("link", name="Admin").click()
        expect(page.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
        expect(page.get_by_role("row", name="grace@example.com")).to_contain_text("you")

        # Sign out, and back in with the same password.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
        page.get_by_label("Email").fill("grace@example.com")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="How can I help, Grace?")).to_be_visible()
        context.close()

        phone = playwright_browser.new_context(viewport=PHONE, base_url=fresh.url)
        report_csp_violations(phone, violations.append)
        page = phone.new_page()
        page.goto("/signup")
        expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
        screenshot(page, "signup-phone-375")
        phone.close()
        assert violations == []
    finally:
        fresh.stop()


def test_an_admin_approves_a_pending_user(new_page, stack, admin):
    admin_page = new_page(admin["access_token"])
    admin_page.goto("/admin/settings")
    admin_page.get_by_role("radio", name="Approval").check()
    expect(admin_page.get_by_role("status").filter(has_text="Sign-up policy saved")).to_be_visible()
    try:
        # A newcomer signs up and is told to wait.
        newcomer = new_page(None)
        newcomer.goto("/signup")
        newcomer.get_by_label("Name").fill("Bob Newcomer")
        newcomer.get_by_label("Email").fill("bob@example.com")
        newcomer.get_by_label("Password").fill(PASSWORD)
        newcomer.get_by_role("button", name="Create account").click()
        expect(newcomer.get_by_role("heading", name="Your account is waiting for approval")).to_be_visible()
        screenshot(newcomer, "pending-desktop-1280")

        # The admin sees them waiting and approves them.
        admin_page.get_by_role("link", name="Users").click()
        row = admin_page.get_by_role("row", name="bob@example.com")
        expect(row.get_by_role("combobox")).to_have_value("pending")
        expect(admin_page.get_by_text("1 waiting for approval")).to_be_visible()
        admin_page.get_by_role("button", name="Approve bob@example.com").click()
        expect(row.get_by_role("combobox")).to_have_value("user")
        expect(admin_page.get_by_role("button", name="Approve bob@example.com")).to_have_count(0)

        # The newcomer checks again and is in.
        newcomer.get_by_role("button", name="Check again").click()
        expect(newcomer.get_by_role("heading", name="How can I help, Bob?")).to_be_visible()
        expect(newcomer.get_by_role("link", name="Admin")).to_have_count(0)
    finally:
        stack.api("PUT", "/api/admin/settings", {"signup_policy": "open"}, token=admin["access_token"])

"""Single sign-on through the page in Chromium, against the test OpenID Connect issuer on
loopback (tests/oidc_issuer.py): the button, the issuer's own login form, back signed in
with the admin role and groups from the claim; a tampered id token comes back as a clear
message on the sign-in page, signed in as no one; with password sign-in switched off the
break-glass admin still signs in with a password while the issuer is down."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, report_csp_violations, screenshot
from tests.browser.stack import start_stack
from tests.oidc_issuer import IdpUser, Issuer


def test_sign_in_with_the_identity_provider(playwright_browser, stack, tmp_path):
    violations: list[str] = []
    with Issuer() as idp:
        idp.add_user(IdpUser("ann", "ann-secret", "ann@example.com", "Ann Lee", groups=["omnichat-admins", "eng"]))
        idp.add_user(IdpUser("bob", "bob-secret", "bob@example.com", "Bob Ray", groups=["eng"]))
        sso = start_stack(tmp_path / "sso", ollama_url=stack.ollama_url, settings={
            "OMNICHAT_OIDC_ISSUER": idp.url, "OMNICHAT_OIDC_CLIENT_ID": idp.client_id,
            "OMNICHAT_OIDC_CLIENT_SECRET": idp.client_secret, "OMNICHAT_OIDC_ADMIN_GROUP": "omnichat-admins",
            "OMNICHAT_OIDC_DISPLAY_NAME": "Test IdP", "OMNICHAT_PASSWORD_SIGNIN": "false"})
        try:
            sso.sign_up("root@example.com", PASSWORD, "Root")  # the break-glass admin (the first account)
            # First, the identity provider down (before this server has read its discovery document):
            # a clear message; the break-glass admin signs in with a password.
            idp.down = True
            glass = playwright_browser.new_context(viewport={"width": 1280, "height": 820}, base_url=sso.url)
            report_csp_violations(glass, violations.append)
            page3 = glass.new_page()
            page3.goto("/")
            page3.get_by_role("link", name="Sign in with Test IdP").click()
            expect(page3.get_by_role("alert")).to_contain_text("cannot be reached")
            page3.get_by_text("Administrator sign-in with a password").click()
            page3.get_by_label("Email").fill("root@example.com")
            page3.get_by_label("Password").fill(PASSWORD)
            page3.get_by_role("button", name="Sign in", exact=True).click()
            expect(page3.get_by_role("heading", name="How can I help, Root?")).to_be_visible()
            glass.close()
            idp.down = False

            context = playwright_browser.new_context(viewport={"width": 1280, "height": 820}, base_url=sso.url)
            report_csp_violations(context, violations.append)
            page = context.new_page()
            page.goto("/")
            expect(page.get_by_role("link", name="Sign in with Test IdP")).to_be_visible()
            screenshot(page, "sso-signin-desktop-1280")
            page.get_by_role("link", name="Sign in with Test IdP").click()
            expect(page.get_by_role("heading", name="Test issuer sign-in")).to_be_visible()
            page.get_by_label("Username").fill("ann")
            page.get_by_label("Password").fill("ann-secret")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="How can I help, Ann?")).to_be_visible()
            assert "sso=" not in page.url  # the one-time code is gone from the address bar
            expect(page.get_by_role("link", name="Admin")).to_be_visible()  # the admin group's member

            # Bob, in a second browser; the token he gets is tampered with: refused, clearly.
            other = playwright_browser.new_context(viewport={"width": 1280, "height": 820}, base_url=sso.url)
            report_csp_violations(other, violations.append)
            page2 = other.new_page()
            idp.tamper = "audience"
            page2.goto("/")
            page2.get_by_role("link", name="Sign in with Test IdP").click()
            page2.get_by_label("Username").fill("bob")
            page2.get_by_label("Password").fill("bob-secret")
            page2.get_by_role("button", name="Sign in").click()
            expect(page2.get_by_role("alert")).to_contain_text("could not be verified")
            expect(page2.get_by_role("heading", name="How can I help, Bob?")).to_have_count(0)
            idp.tamper = None
            page2.get_by_role("link", name="Sign in with Test IdP").click()
            page2.get_by_label("Username").fill("bob")
            page2.get_by_label("Password").fill("bob-secret")
            page2.get_by_role("button", name="Sign in").click()
            expect(page2.get_by_role("heading", name="How can I help, Bob?")).to_be_visible()
            expect(page2.get_by_role("link", name="Admin")).to_have_count(0)
            other.close()

            context.close()
            assert violations == []
        finally:
            sso.stop()

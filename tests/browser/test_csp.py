"""The page's Content-Security-Policy (omnichat.security_headers) on the local stack: every
file of the page carries it, the built page needs nothing it forbids (no inline script),
Chromium enforces it and reports what it blocks, and the whole page works under it. Every
browser test also fails on a violation (the `new_page` fixture listens for them)."""

from __future__ import annotations

import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from playwright.sync_api import expect

from omnichat.security_headers import CONTENT_SECURITY_POLICY
from tests.browser.conftest import ADMIN_EMAIL, PASSWORD, report_csp_violations, unexpected
from tests.browser.helpers import send, wait_status


def directives() -> dict[str, set[str]]:
    parsed = (d.strip().split() for d in CONTENT_SECURITY_POLICY.split(";") if d.strip())
    return {name: set(sources) for name, *sources in parsed}


def test_the_policy_is_strict() -> None:
    policy = directives()
    assert policy["script-src"] == {"'self'"}  # no inline script, no eval, no other host
    assert policy["object-src"] == {"'none'"}
    assert policy["frame-ancestors"] == {"'none'"}
    assert policy["base-uri"] == {"'none'"}
    assert not any("unsafe" in source for sources in policy.values() for source in sources)


def test_every_file_of_the_page_carries_the_policy(stack, dist: Path) -> None:
    asset = next((dist / "assets").glob("*.js")).name
    for path in ("/", "/index.html", "/c/some-chat", "/admin/usage", "/theme.js", "/favicon.svg",
                 "/config.json", f"/assets/{asset}"):
        with urllib.request.urlopen(stack.url + path, timeout=10) as r:
            assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin", path  # share links' tokens


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.handlers += [f"<{tag} {name}>" for name in names if name.startswith("on")]
        self._in_inline = tag == "script" and "src" not in names

    def handle_data(self, data: str) -> None:
        if self._in_inline and data.strip():
            self.inline.append(data.strip()[:60])

    def handle_endtag(self, tag: str) -> None:
        self._in_inline = False


def test_the_built_page_has_no_inline_script(dist: Path) -> None:
    scripts = _Scripts()
    scripts.feed((dist / "index.html").read_text())
    assert scripts.inline == [] and scripts.handlers == []


def test_only_the_violations_a_test_names_are_forgiven() -> None:
    attr = "CSP violation: script-src-attr blocked inline (/assets/index.js:78:20296)"
    style = "CSP violation: style-src-attr blocked inline (/assets/index.js:9:10)"
    console = "console error: Executing inline event handler violates the following Content Security Policy ..."
    assert unexpected([attr, console], set()) == [attr, console]
    assert unexpected([attr, console], {"script-src-attr"}) == []
    assert unexpected([attr, console, style], {"script-src-attr"}) == [style]


def test_chromium_enforces_the_policy_and_reports_what_it_blocks(playwright_browser, stack, admin) -> None:
    """The listener every browser test relies on does hear a violation: an injected inline
    script (what an XSS in model output would be) is blocked and reported."""
    context = playwright_browser.new_context(base_url=stack.url)
    found: list[str] = []
    report_csp_violations(context, found.append)
    page = context.new_page()
    page.goto("/")  # the sign-in page (`admin` made the first account, whichever test ran first)
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    page.evaluate("""() => {
        document.addEventListener('securitypolicyviolation', () => { window.__heard = true; });
        const s = document.createElement('script');
        s.textContent = 'window.__ran = true';
        document.head.append(s);
    }""")
    page.wait_for_function("window.__heard === true")
    for _ in range(100):  # the report reaches Python through a binding, in order but not at once
        if found:
            break
        page.wait_for_timeout(20)
    assert page.evaluate("window.__ran") is None
    assert found and found[0].startswith("CSP violation: script-src-elem blocked inline"), found
    context.close()


def test_the_whole_page_works_under_the_policy(new_page, stack, admin) -> None:
    """Sign in, chat, then every page an admin can open, in the dark theme (set before the
    first paint by theme.js): the fixture fails the test on any violation."""
    page = new_page(None, dark=True, fresh=True)  # an init script sets the theme
    page.add_init_script("localStorage.setItem('omnichat.theme', 'dark')")
    page.goto("/")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="How can I help, Ada?")).to_be_visible()
    send(page, "Some **markdown**, a `code span` and a table [[tokens=30]]")
    wait_status(page, "complete")

    for path, heading in (("/keys", "API keys"), ("/account", "Account"), ("/admin/users", "Admin"),
                          ("/admin/models", "Admin"), ("/admin/usage", "Admin"), ("/admin/settings", "Admin")):
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    page.goto("/admin/usage")
    expect(page.locator(".swatch").first).to_be_visible()  # the legend colours (dynamic styles)

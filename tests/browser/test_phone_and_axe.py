"""Issue 19, defects 3 and 10: on a 390×844 phone the admin tables, the usage chart and the
API keys page fit the screen (no element's box past the right edge, chart labels ≥ 11 px);
and axe-core (frontend/node_modules/axe-core, pinned) finds no serious or critical
violation on any page, light at 1280×800 and dark at 390×844."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.helpers import visit
from tests.browser.pages import PAST_RIGHT_EDGE, RICH_ANSWER, usage_report
from tests.browser.seed import conversation, import_chats
from tests.browser.stack import FRONTEND

AXE = FRONTEND / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 800}
# The rendered size of the chart's axis labels: the font size times the SVG's scale.
LABEL_PX = """(texts) => texts.map((t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"""
# How many lines each element's text takes.
LINES = """(els) => els.map((e) => { const r = document.createRange(); r.selectNodeContents(e);
  return new Set([...r.getClientRects()].map((rect) => Math.round(rect.top))).size; })"""


def _admin_pages(page, stack, admin) -> None:
    stack.api("POST", "/api/keys", {"name": "a key with a rather long name for phones"}, token=admin["access_token"])
    def days(route: Any) -> int:
        return int(route.request.url.split("days=")[1].split("&")[0])

    page.route("**/api/admin/usage?*", lambda route: route.fulfill(json=usage_report(days(route))))


@pytest.mark.parametrize("path", ["/admin/users", "/admin/models", "/admin/usage", "/admin/audit", "/keys"])
def test_admin_and_keys_pages_fit_a_phone(new_page, stack, admin, path):
    page = new_page(admin["access_token"], viewport=PHONE)
    _admin_pages(page, stack, admin)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    if path == "/admin/usage":
        chart = page.get_by_role("img", name="Tokens per day by model")
        expect(chart).to_be_visible()
        sizes = chart.locator("text").evaluate_all(LABEL_PX)
        assert sizes and min(sizes) >= 11, sizes
        # The totals above it (tokens, requests, models) each keep to one line.
        assert page.locator(".stats strong").evaluate_all(LINES) == [1, 1, 1]
    else:
        expect(page.get_by_role("table").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(PAST_RIGHT_EDGE) == []
    screenshot(page, f"phone-{path.strip('/').replace('/', '-')}-390")


def _axe(page) -> list[str]:
    # add_script_tag(path=...) inlines the file, which the page's CSP refuses (as it should);
    # Playwright's evaluate runs it through the DevTools protocol, outside the CSP.
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate("""async () => {
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.impact} ${v.id}: ${v.nodes.slice(0, 3)
          .map((n) => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\\n')[1]).join(' | ')}`);
    }""")
    return result


# Each page in both themes and at both sizes, in two runs rather than all four pairs: the
# theme decides the colours (contrast), the size the layout (the phone's drawer, wrapping);
# a violation needing one pair of both is unlikely, and each run costs Chromium seconds of CPU.
@pytest.mark.parametrize(("viewport", "dark"), [(WIDE, False), (PHONE, True)], ids=["1280-light", "390-dark"])
def test_axe_finds_no_serious_violation(new_page, stack, admin, viewport, dark):
    token = admin["access_token"]
    [chat] = import_chats(stack, token, [conversation("Everything Markdown", [("Show me everything", RICH_ANSWER)])])
    found: dict[str, list[str]] = {}

    signed_out = new_page(None, viewport=viewport, dark=dark)
    signed_out.goto("/signin")
    expect(signed_out.get_by_label("Password")).to_be_visible()
    found["/signin"] = _axe(signed_out)

    page = new_page(token, viewport=viewport, dark=dark)
    _admin_pages(page, stack, admin)
    page.goto(f"/c/{chat}")
    answer = page.get_by_role("article", name="Assistant message")
    expect(answer.locator(".katex")).to_have_count(2)
    expect(answer.locator("pre code")).to_have_attribute("data-highlighted", "yes")
    page.wait_for_load_state("networkidle")
    # The other pages are reached as the page's links reach them: one document (and one
    # axe) for all of them, a full load's CPU saved on each.
    for path in (f"/c/{chat}", "/keys", "/account", "/admin/users", "/admin/models", "/admin/presets", "/admin/usage",
                 "/admin/settings", "/admin/audit"):
        if not path.startswith("/c/"):
            visit(page, path)
        found[path] = _axe(page)
        name = "chat" if path.startswith("/c/") else path.strip("/").replace("/", "-")
        screenshot(page, f"axe-{name}-{'dark' if dark else 'light'}-{viewport['width']}")
    bad = {path: v for path, v in found.items() if v}
    assert not bad, "\n".join(f"{p}: {line}" for p, lines in bad.items() for line in lines)

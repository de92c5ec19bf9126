"""Screenshots of the features added for issue 19, at 1280×800 and 390×844, light and dark
(copied to docs/screenshots/ for docs/frontend.md), each screen checked to fit a phone and
by axe-core (no serious or critical violation)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot
from tests.browser.helpers import token_for
from tests.browser.pages import PAST_RIGHT_EDGE
from tests.browser.seed import MARKDOWN_ANSWER, conversation, import_chats
from tests.browser.test_phone_and_axe import _axe

WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
AGES = {"Trip to Lisbon": 0, "Quarterly report outline": 1, "Regex for dates": 4, "Sourdough timings": 12,
        "Home network setup": 50}


def _seed(stack):
    token = token_for(stack, "screens@example.com", PASSWORD, "Sam Rivera")
    turns = [("How do I merge two sorted lists in Python?", MARKDOWN_ANSWER), ("And with heapq?", MARKDOWN_ANSWER)]
    ids = import_chats(stack, token, [conversation("Merging sorted lists", turns, pinned=True)]
                       + [conversation(t, [("q", "a")]) for t in AGES])
    return token, ids[0]


def _aged_list(page, stack, token):
    now = datetime.now(timezone.utc)

    def aged(route):
        body = stack.api("GET", route.request.url.removeprefix(stack.url), token=token)
        for chat in body["chats"]:
            chat["updated_at"] = (now - timedelta(days=AGES.get(chat["title"], 0))).isoformat()
        body["chats"].sort(key=lambda c: (not c["pinned"], AGES.get(c["title"], 0)))
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/chats?*", aged)


def _fits(page):
    # Code blocks scroll sideways inside their own box; nothing else passes the right edge.
    assert [e for e in page.evaluate(PAST_RIGHT_EDGE) if not e.startswith("span.hljs")] == []
    assert _axe(page) == []


def test_feature_screens(new_page, stack):
    token, chat = _seed(stack)
    for viewport, dark, size in ((WIDE, False, "1280"), (PHONE, True, "390")):
        theme = "dark" if dark else "light"
        page = new_page(token, viewport=viewport, dark=dark)
        _aged_list(page, stack, token)
        page.goto(f"/c/{chat}")
        expect(page.get_by_role("article", name="Assistant message")).to_have_count(2)
        page.get_by_role("log", name="Conversation").hover()
        page.mouse.wheel(0, -700)
        expect(page.get_by_role("button", name="Scroll to the latest message")).to_be_visible()
        _fits(page)
        screenshot(page, f"reading-{theme}-{size}")

        if viewport is PHONE:
            page.get_by_role("button", name="Open the sidebar").click()
        nav = page.get_by_role("navigation", name="Chats")
        expect(nav.get_by_role("heading", name="Previous 30 days")).to_be_visible()
        page.get_by_role("button", name="Select", exact=True).click()
        nav.get_by_role("checkbox", name="Select Regex for dates").check()
        nav.get_by_role("checkbox", name="Select Sourdough timings").check()
        expect(page.get_by_role("toolbar", name="Selected chats")).to_contain_text("2 selected")
        _fits(page)
        screenshot(page, f"sidebar-select-{theme}-{size}")

        page.goto("/account")
        expect(page.get_by_role("heading", name="Preferences")).to_be_visible()
        expect(page.get_by_label("Default model for new chats")).to_be_enabled()
        page.get_by_role("heading", name="Preferences").scroll_into_view_if_needed()
        _fits(page)
        screenshot(page, f"account-{theme}-{size}")

        page.keyboard.press("Control+/")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        _fits(page)
        screenshot(page, f"shortcuts-{theme}-{size}")
        page.keyboard.press("Escape")

        page.goto(f"/c/{chat}")
        page.get_by_role("article", name="Assistant message").last.get_by_role("button", name="Compare answers").click()
        expect(page.get_by_role("dialog", name="Compare answers").get_by_role("region")).to_have_count(1)
        _fits(page)
        screenshot(page, f"compare-{theme}-{size}")

"""The sidebar groups chats by when they were last active: Today, Yesterday, Previous 7
days, Previous 30 days, then by month; pinned chats stay on top under "Pinned"."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.helpers import token_for
from tests.browser.seed import conversation, import_chats

# Title -> days since the chat was last active (the server's list, aged by the test).
AGES = {"Fresh idea": 0, "Last night": 1, "Three days back": 3, "Two weeks back": 14, "Long ago": 75}


def test_chats_are_grouped_by_day(new_page, stack):
    token = token_for(stack, "groups@example.com", PASSWORD, "Gus")
    import_chats(stack, token, [conversation(t, [("q", "a")]) for t in AGES]
                 + [conversation("Pinned one", [("q", "a")], pinned=True)])
    now = datetime.now(timezone.utc)

    def aged(route):  # the real list, with each chat's last activity moved back by its age
        body = stack.api("GET", route.request.url.removeprefix(stack.url), token=token)
        for chat in body["chats"]:
            chat["updated_at"] = (now - timedelta(days=AGES.get(chat["title"], 0))).isoformat()
        body["chats"].sort(key=lambda c: (not c["pinned"], AGES.get(c["title"], 0)))
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page = new_page(token)
    page.route("**/api/chats?*", aged)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Chats")
    long_ago = (now - timedelta(days=75)).strftime("%B %Y")
    expected = ["Pinned", "Today", "Yesterday", "Previous 7 days", "Previous 30 days", long_ago]
    expect(nav.get_by_role("heading")).to_have_text(expected)
    for heading, title in zip(expected, ["Pinned one", *AGES], strict=True):
        group = nav.locator(f"h2:text-is('{heading}') + ul")
        expect(group.get_by_role("link")).to_have_text([title])

"""What the browser tests do again and again, in the user's terms."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Locator, Page, expect

ANSWER = 'article[aria-label="Assistant message"]'


def composer(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message", exact=True)


def send(page: Page, text: str) -> None:
    box = composer(page)
    box.fill(text)
    box.press("Enter")


def answers(page: Page) -> Locator:
    return page.locator(ANSWER)


def last_answer(page: Page) -> Locator:
    return answers(page).last


def wait_status(page: Page, status: str, timeout_ms: int = 20_000) -> Locator:
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", status, timeout=timeout_ms)
    return answer


def words(locator: Locator) -> int:
    text = locator.locator(".prose").inner_text() if locator.locator(".prose").count() else ""
    return len(text.split())


def wait_words(page: Page, at_least: int, timeout_s: float = 15) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n = words(last_answer(page))
        if n >= at_least:
            return n
        time.sleep(0.05)
    raise AssertionError(f"the answer did not reach {at_least} words")


def visit(page: Page, path: str) -> None:
    """Go to `path` inside the loaded page, the way its own links do (history, no reload):
    what a person moving around the app sees, with no new document for Chromium to build.
    Waits for the page's heading and for every list on it to have loaded."""
    page.evaluate("(path) => { history.pushState({}, '', path); dispatchEvent(new PopStateEvent('popstate')); }",
                  path)
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    expect(page.get_by_text("Loading…", exact=True)).to_have_count(0)


def chat_id(page: Page) -> str:
    match = re.search(r"/c/([^/?#]+)", page.url)
    assert match, f"not on a chat page: {page.url}"
    return match.group(1)


def token_for(stack: Any, email: str, password: str, name: str = "") -> str:
    try:
        return stack.sign_up(email, password, name)["access_token"]
    except AssertionError:
        return stack.sign_in(email, password)["access_token"]

"""Rendered answers (issue 19, defects 2 and 10): task lists are named read-only checkboxes,
table columns keep their alignment, math is typeset by KaTeX (loaded only for an answer with
math, its CSS and fonts from our own origin, under the strict CSP), code blocks that scroll
can be reached with the keyboard, and opening a chat with Enter leaves the focus in the page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PASSWORD
from tests.browser.helpers import token_for
from tests.browser.pages import RICH_ANSWER
from tests.browser.seed import conversation, import_chats

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _first_user_is_the_admin(admin):
    """The package's stack makes its first account the admin: let that be the admin fixture's."""


def _chat(stack, answer: str = RICH_ANSWER, title: str = "Rich answer") -> tuple[str, str]:
    token = token_for(stack, "mark@example.com", PASSWORD, "Mark Down")
    [chat] = import_chats(stack, token, [conversation(title, [("Show me everything", answer)])])
    return token, chat


def test_task_lists_tables_and_math_render(new_page, stack):
    token, chat = _chat(stack)
    page = new_page(token, fresh=True)  # listens to its requests
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url))
    page.goto(f"/c/{chat}")
    answer = page.get_by_role("article", name="Assistant message")

    done = answer.get_by_role("checkbox", name="Done", exact=True)
    todo = answer.get_by_role("checkbox", name="Not done")
    expect(done).to_be_checked()
    expect(done).to_be_disabled()
    expect(todo).not_to_be_checked()
    assert answer.locator("input:not([type=checkbox])").count() == 0

    aligns = answer.locator("table tr").first.locator("th").evaluate_all(
        "cells => cells.map((c) => getComputedStyle(c).textAlign)")
    assert aligns == ["left", "center", "right"]

    expect(answer.locator(".katex")).to_have_count(2)
    expect(answer.locator(".katex-display")).to_have_count(1)
    assert "$" not in answer.locator(".katex").first.inner_text()
    expect(answer.get_by_text("It costs $5 today and $10 tomorrow.")).to_be_visible()  # not math
    # The fraction is laid out (its styles set through the CSSOM), in KaTeX's own fonts.
    frac = answer.locator(".katex-display .mfrac").first
    assert frac.evaluate("(e) => e.getBoundingClientRect().height") > 20
    page.wait_for_function("() => document.fonts.check('16px KaTeX_Main')")
    assert [u for u in loaded if "KaTeX_" in u] and all(u.startswith(stack.url) for u in loaded if "KaTeX_" in u)


def test_katex_loads_only_for_math(new_page, stack):
    token, chat = _chat(stack, "No math here, only **bold** and $5.")
    page = new_page(token, fresh=True)  # listens to its requests
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url))
    page.goto(f"/c/{chat}")
    expect(page.get_by_role("article", name="Assistant message").locator("strong")).to_have_text("bold")
    page.wait_for_load_state("networkidle")
    assert not [u for u in loaded if "/math-" in u or "KaTeX" in u]


def test_code_blocks_take_the_keyboard_focus(new_page, stack):
    token, chat = _chat(stack)
    page = new_page(token, viewport={"width": 390, "height": 844})
    page.goto(f"/c/{chat}")
    code = page.get_by_role("group", name="Code (python)")
    expect(code).to_have_attribute("tabindex", "0")
    assert code.evaluate("(e) => e.scrollWidth > e.clientWidth")  # it scrolls
    page.get_by_role("button", name="Copy code (python)").focus()
    page.keyboard.press("Tab")
    expect(code).to_be_focused()


def test_opening_a_chat_with_enter_keeps_the_focus(new_page, stack):
    token, chat = _chat(stack, title="Opened with Enter")
    _, other = _chat(stack, title="Open before")
    held: list[Any] = []  # the open chat's request, each time
    for viewport, start in ((DESKTOP, "/"), (PHONE, "/"), (DESKTOP, f"/c/{other}"), (PHONE, f"/c/{other}")):
        page = new_page(token, viewport=viewport)
        # The open chat loads only once the person has moved to the link: opening it must
        # not take the focus from them (it went to the message box and Enter did nothing).
        held.clear()
        page.route(f"**/api/chats/{other}?*", lambda route: held.append(route))
        page.goto(start)
        if viewport is PHONE:
            page.get_by_role("button", name="Open the sidebar").click()
        link = page.get_by_role("navigation", name="Chats").get_by_role("link", name="Opened with Enter")
        link.focus()
        for _ in range(200 if start != "/" else 0):  # the chat's request left when the page loaded
            if held:
                break
            page.wait_for_timeout(25)
        for route in held:
            route.continue_()
        if start != "/":
            expect(page.get_by_role("article", name="Assistant message")).to_be_visible()
            expect(link).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Opened with Enter", level=1)).to_be_visible()
        expect(page.get_by_role("article", name="Assistant message")).to_be_visible()
        # The focus is on something the user can see: the link they pressed, or the chat.
        page.wait_for_function("""() => {
          const el = document.activeElement;
          return el && el !== document.body && el.checkVisibility() && el.getClientRects().length > 0;
        }""", timeout=5_000)


STREAMED = RICH_ANSWER + """
1. first

2. second, in a loose list

   still the second item

```js
const a = 1;

const b = 2; // a blank line inside a fence
```

$$
e^{i\\pi} + 1 = 0
$$

> a quote
> on two lines

Done.
"""


def test_a_streamed_answer_renders_as_the_whole_text_does(new_page, stack):
    """Rendered incrementally (finished blocks once, the tail per delta), an answer streamed in
    small deltas ends up exactly as the same text rendered at once."""
    from tests.browser.pages import CAPTURE_SOCKET, DELIVER

    token, whole = _chat(stack, STREAMED, title="Whole")
    [streamed] = import_chats(stack, token, [{
        "title": "Streamed", "model": "ollama/omnichat-test:latest", "current_leaf_id": "q0",
        "messages": [{"id": "q0", "parent_id": None, "role": "user", "content": "Show me everything"}]}])
    page = new_page(token, fresh=True)  # an init script captures its sockets
    page.context.add_init_script(CAPTURE_SOCKET)
    page.goto(f"/c/{whole}")
    expect(page.locator("pre code").first).to_have_attribute("data-highlighted", "yes")
    expect(page.locator(".katex")).to_have_count(3)
    expect(page.locator(".prose [data-katex-style]")).to_have_count(0)  # all set through the CSSOM
    expected = page.locator(".prose").inner_html()

    page.goto(f"/c/{streamed}")
    expect(page.get_by_role("article", name="Your message")).to_be_visible()
    page.wait_for_function("() => window.__sockets.some((s) => s.readyState === 1 && s.onmessage)")
    events, offset = [], 0
    for i in range(0, len(STREAMED), 7):
        piece = STREAMED[i:i + 7]
        events.append({"type": "delta", "chat_id": streamed, "message_id": "m-streamed", "offset": offset,
                       "text": piece})
        offset += len(piece)
    events.append({"type": "message.done", "chat_id": streamed, "message_id": "m-streamed", "status": "complete"})
    page.evaluate(DELIVER, {"events": events})
    answer = page.get_by_role("article", name="Assistant message")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator("pre code").first).to_have_attribute("data-highlighted", "yes")
    expect(answer.locator(".katex")).to_have_count(3)

    def norm(html: str) -> str:
        return re.sub(r">\s+<", "><", re.sub(r"<!---->", "", html)).strip()

    assert norm(answer.locator(".prose").inner_html()) == norm(expected)

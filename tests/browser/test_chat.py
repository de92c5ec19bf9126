"""The chat page against the real local stack: answers stream over the WebSocket from the
deterministic test model (`[[tokens=N]]` sets the length, `[[rate=R]]` the pace in tokens
per second, `[[echo=1]]` answers with the question)."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.helpers import answers, chat_id, composer, last_answer, send, wait_status, wait_words, words


def test_an_answer_streams_in_and_the_chat_is_saved(new_page, stack, admin):
    page = new_page(admin["access_token"])
    page.goto("/")
    expect(page.get_by_role("heading", name="How can I help, Ada?")).to_be_visible()
    send(page, "Tell me about streaming [[tokens=60]] [[rate=40]]")

    # The question shows at once; the answer grows while it streams, then completes.
    expect(page.get_by_role("article", name="Your message")).to_contain_text("Tell me about streaming")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "streaming")
    seen = set()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and answer.get_attribute("data-status") == "streaming":
        seen.add(words(answer))
        time.sleep(0.05)
    wait_status(page, "complete")
    assert len(seen - {0}) >= 3, f"the answer did not arrive in pieces: {sorted(seen)}"
    assert words(answer) == 60
    expect(answer).to_contain_text("60 tokens")

    # The URL names the new chat, the sidebar lists it, and the server kept every word.
    cid = chat_id(page)
    listed = page.get_by_role("navigation", name="Chats").locator(f'a[href="/c/{cid}"]')
    expect(listed).to_have_attribute("aria-current", "page")
    saved = stack.api("GET", f"/api/chats/{cid}", token=admin["access_token"])
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant"]
    assert saved["messages"][1]["content"].split() == answer.locator(".prose").inner_text().split()
    # The chat got a title from its first answer (chat.title event).
    expect(page.get_by_role("heading", level=1)).not_to_have_text("New chat")
    screenshot(page, "chat-desktop-1280")


def test_stop_keeps_the_answer_so_far(new_page, admin):
    page = new_page(admin["access_token"])
    page.goto("/")
    send(page, "A very long answer please [[tokens=400]] [[rate=40]]")
    wait_words(page, 5)
    expect(page.get_by_role("button", name="Stop generating")).to_be_visible()
    composer(page).press("Escape")  # Esc stops, like the Stop button
    answer = wait_status(page, "stopped", timeout_ms=5000)
    expect(answer.get_by_text("Stopped", exact=True)).to_be_visible()
    n = words(answer)
    assert 0 < n < 400
    expect(page.get_by_role("button", name="Send message")).to_be_visible()
    # The composer works again at once.
    send(page, "And now a short one [[tokens=5]]")
    wait_status(page, "complete")
    assert words(last_answer(page)) == 5


def test_regenerate_makes_a_second_version(new_page, admin):
    page = new_page(admin["access_token"])
    page.goto("/")
    send(page, "Give me an idea [[tokens=12]]")
    wait_status(page, "complete")
    page.get_by_role("button", name="Regenerate answer").click()
    answer = wait_status(page, "complete")
    versions = answer.get_by_role("group", name="Versions of this message")
    expect(versions).to_contain_text("2 / 2")
    expect(answers(page)).to_have_count(1)
    versions.get_by_role("button", name="Previous version").click()
    expect(last_answer(page).get_by_role("group", name="Versions of this message")).to_contain_text("1 / 2")
    shown = last_answer(page).get_by_role("group", name="Versions of this message")
    shown.get_by_role("button", name="Next version").click()
    expect(last_answer(page).get_by_role("group", name="Versions of this message")).to_contain_text("2 / 2")


def test_edit_makes_a_branch_and_both_can_be_visited(new_page, stack, admin):
    page = new_page(admin["access_token"])
    page.goto("/")
    send(page, "first question [[tokens=6]]")
    wait_status(page, "complete")
    first_answer = last_answer(page).locator(".prose").inner_text()

    question = page.get_by_role("article", name="Your message")
    question.hover()
    question.get_by_role("button", name="Edit message").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    editor.fill("second question [[tokens=9]]")
    page.get_by_role("button", name="Save & send").click()
    question = page.get_by_role("article", name="Your message")
    expect(question).to_contain_text("second question")  # at once, before the answer
    wait_status(page, "complete")
    assert words(last_answer(page)) == 9
    versions = question.get_by_role("group", name="Versions of this message")
    expect(versions).to_contain_text("2 / 2")

    versions.get_by_role("button", name="Previous version").click()
    expect(page.get_by_role("article", name="Your message")).to_contain_text("first question")
    expect(page.get_by_role("article", name="Your message").get_by_role("group")).to_contain_text("1 / 2")
    expect(last_answer(page).locator(".prose")).to_have_text(first_answer)

    # The branch choice is the chat's: a reload shows the same branch.
    page.reload()
    expect(page.get_by_role("article", name="Your message")).to_contain_text("first question")
    saved = stack.api("GET", f"/api/chats/{chat_id(page)}", token=admin["access_token"])
    assert saved["messages"][0]["content"] == "first question [[tokens=6]]"
    assert len(saved["messages"][0]["sibling_ids"]) == 2


def test_a_reloaded_page_resumes_the_answer_in_flight(new_page, stack, admin):
    page = new_page(admin["access_token"])
    page.goto("/")
    send(page, "Stream slowly [[tokens=150]] [[rate=30]]")
    wait_words(page, 10)
    page.reload()
    # After the reload the answer is still streaming: what was saved, then the live rest.
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "streaming", timeout=5000)
    before = words(answer)
    assert before < 150
    wait_status(page, "complete", timeout_ms=20_000)
    assert words(answer) == 150
    saved = stack.api("GET", f"/api/chats/{chat_id(page)}", token=admin["access_token"])
    assert saved["messages"][-1]["status"] == "complete"
    assert saved["messages"][-1]["content"].split() == answer.locator(".prose").inner_text().split()


XSS = (
    '[[echo=1]] <img src="x" onerror="window.__xss=1"> <svg onload="window.__xss=2"></svg> '
    "[click me](javascript:window.__xss=3) <a href=\"javascript:window.__xss=4\">or me</a> "
    '<script>window.__xss=5</script> <iframe src="javascript:window.__xss=6"></iframe> '
    '<b onmouseover="window.__xss=7">bold</b> <form action="javascript:window.__xss=8"><button>go</button></form> '
    '<a href="https://example.com/" onclick="window.__xss=9">safe link</a>'
)


def test_an_answer_carrying_html_and_script_is_rendered_inert(new_page, admin):
    # DOMPurify parses the answer with DOMParser, and Chromium reports the inline handlers it
    # meets there under the page's CSP (script-src-attr), though none of them could run.
    new_page.expect_csp_violation("script-src-attr")
    page = new_page(admin["access_token"])
    page.goto("/")
    send(page, XSS)
    answer = wait_status(page, "complete")
    prose = answer.locator(".prose")
    expect(prose).to_contain_text("click me")
    # Hover and click everything that looks clickable: nothing may run.
    for link in prose.locator("a").all():
        if link.get_attribute("href"):
            link.dispatch_event("click")  # no navigation away; handlers would still fire
        else:
            link.click()
    prose.locator("b").hover()
    # Raw HTML that is harmless stays (bold); a safe link keeps its URL, opens in a new tab.
    expect(prose.locator("b")).to_have_text("bold")
    safe = prose.get_by_role("link", name="safe link")
    expect(safe).to_have_attribute("href", "https://example.com/")
    expect(safe).to_have_attribute("rel", "noopener noreferrer nofollow")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    bad = page.evaluate(
        """(root) => {
            const out = [];
            for (const el of root.querySelectorAll('*')) {
                const tag = el.tagName.toUpperCase();
                if (['IMG', 'SVG', 'SCRIPT', 'IFRAME', 'FORM', 'BUTTON', 'OBJECT', 'EMBED'].includes(tag))
                    out.push('tag ' + el.tagName);
                for (const a of el.attributes) {
                    if (/^on/i.test(a.name)) out.push('attr ' + a.name);
                    if (/javascript:/i.test(a.value)) out.push('url ' + a.value);
                }
            }
            return out;
        }""",
        prose.element_handle(),
    )
    assert bad == [], bad
    # The user's own message is shown as text, exactly as typed.
    expect(page.get_by_role("article", name="Your message")).to_contain_text('<img src="x" onerror="window.__xss=1">')

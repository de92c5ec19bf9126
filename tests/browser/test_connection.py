"""The WebSocket going away: the page says so, reconnects with backoff, and an answer that
was streaming when the connection dropped is resumed, not lost."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import send, wait_status, wait_words, words


def test_a_dropped_connection_reconnects_and_resumes_the_answer(new_page, admin):
    page = new_page(admin["access_token"])
    sockets = []

    def through(ws):  # pass every frame through, and keep a handle to cut the line
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket("**/ws?*", through)
    page.goto("/")
    expect(page.get_by_role("heading", name="How can I help, Ada?")).to_be_visible()
    send(page, "Keep talking while I cut the line [[tokens=120]] [[rate=30]]")
    wait_words(page, 10)
    assert len(sockets) == 1
    sockets[0].close(code=1011, reason="network gone")
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    # Back with a new ticket and socket; chat.resume brings the rest of the answer.
    answer = wait_status(page, "complete", timeout_ms=30_000)
    assert len(sockets) >= 2
    assert words(answer) == 120
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_have_count(0)
    # And the new connection carries new messages.
    send(page, "Still there? [[tokens=4]]")
    expect(page.locator('article[aria-label="Assistant message"]')).to_have_count(2)
    wait_status(page, "complete")
    assert words(page.locator('article[aria-label="Assistant message"]').last) == 4

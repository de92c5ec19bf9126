"""The WebSocket going away: the page says so, reconnects with backoff, and an answer that
was streaming when the connection dropped is resumed, not lost."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.browser.helpers import chat_id, send, wait_status, wait_words, words


def test_a_dropped_connection_reconnects_and_resumes_the_answer(new_page, admin):
    page = new_page(admin["access_token"], fresh=True)  # routes its socket
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


def test_a_silently_dead_socket_is_noticed_and_the_message_is_sent_once_when_back(new_page, stack, admin):
    """The network goes but the socket stays "open" (no close ever comes): the page's
    heartbeat notices, says "Reconnecting…", keeps the message and sends it once it is back
    (issue 19 item 1). The route forwards frames until the line goes dead, then drops them
    both ways, which is what a dead network does to an open socket; offline, the page cannot
    get a new ticket either."""
    page = new_page(admin["access_token"], fresh=True)  # routes its socket
    lines: list[dict] = []  # one per socket the page opened: {"dead": bool}
    sends: list[dict] = []  # the chat.send frames that reached the server

    def through(ws):
        server = ws.connect_to_server()
        line = {"dead": False}
        lines.append(line)

        def up(message):
            if line["dead"]:
                return
            if isinstance(message, str) and '"chat.send"' in message:
                sends.append(json.loads(message))
            server.send(message)

        ws.on_message(up)
        server.on_message(lambda message: None if line["dead"] else ws.send(message))

    page.route_web_socket("**/ws?*", through)
    page.goto("/")
    send(page, "Warm up [[tokens=3]]")
    wait_status(page, "complete")
    assert len(lines) == 1

    lines[0]["dead"] = True
    page.context.set_offline(True)
    send(page, "Are you still there? [[tokens=7]]")
    question = page.get_by_role("article", name="Your message").last
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible(timeout=20_000)
    expect(question).to_contain_text("Are you still there?")  # kept while the line is down
    expect(question).to_have_attribute("data-status", "sending")

    page.context.set_offline(False)
    expect(page.locator('article[aria-label="Assistant message"]')).to_have_count(2, timeout=30_000)
    answer = wait_status(page, "complete", timeout_ms=30_000)
    assert words(answer) == 7
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_have_count(0)
    assert len(lines) >= 2
    # Exactly once: every send of it carried one client_message_id, and one message was saved.
    mine = [f for f in sends if f.get("content", "").startswith("Are you still there?")]
    assert mine and len({f["client_message_id"] for f in mine}) == 1
    saved = stack.api("GET", f"/api/chats/{chat_id(page)}", token=admin["access_token"])
    assert [m["content"] for m in saved["messages"] if m["role"] == "user"] == [
        "Warm up [[tokens=3]]", "Are you still there? [[tokens=7]]"]
    assert [m["status"] for m in saved["messages"]] == ["complete"] * 4

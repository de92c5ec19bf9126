"""What a new user ran into (issue 19 items 4-7, 11-13): toasts over the Send button, a
refused role change shown as done, errors shown twice, a disabled model shown as a raw id,
text arriving after Stop, sign-in pages that did not know the server, archived chats that
looked open, renames that reordered the list, and no sign of accounts waiting for approval."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, TEST_MODEL
from tests.browser.helpers import chat_id, send, token_for, wait_status, wait_words
from tests.browser.seed import conversation, import_chats

PHONE_844 = {"width": 390, "height": 844}
DESKTOP_800 = {"width": 1280, "height": 800}
UNREACHABLE = "The model's server cannot be reached or is too busy right now. Try again in a moment."


def _overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_toasts_never_cover_the_send_or_stop_button(new_page, admin):
    for viewport in (DESKTOP_800, PHONE_844):
        page = new_page(admin["access_token"], viewport=viewport)
        # An error notice, the kind that used to sit on the button for 8 seconds.
        page.route("**/api/models*", lambda route: route.fulfill(
            status=500, json={"error": {"code": "internal_error", "message": "The models could not be listed"}}))
        page.goto("/")
        toast = page.get_by_role("region", name="Notifications").get_by_role("alert")
        expect(toast).to_contain_text("The models could not be listed")
        button = page.get_by_role("button", name="Send message")
        expect(button).to_be_visible()
        assert not _overlap(toast.bounding_box(), button.bounding_box()), viewport

    # And over Stop, while an answer streams (a search that fails brings the notice).
    page = new_page(admin["access_token"], viewport=DESKTOP_800)
    page.goto("/")
    send(page, "Stream for a while [[tokens=300]] [[rate=30]]")
    stop = page.get_by_role("button", name="Stop generating")
    expect(stop).to_be_visible()
    page.route("**/api/chats?*", lambda route: route.fulfill(
        status=500, json={"error": {"code": "internal_error", "message": "The chat list could not load"}}))
    page.get_by_role("searchbox", name="Search chats").fill("x")
    toast = page.get_by_role("region", name="Notifications").get_by_role("alert")
    expect(toast).to_contain_text("The chat list could not load")
    assert not _overlap(toast.bounding_box(), stop.bounding_box())
    stop.click()
    wait_status(page, "stopped")


def test_a_refused_self_demotion_shows_the_role_the_server_kept(new_page, stack, admin):
    admins = stack.api("GET", "/api/admin/users?role=admin", token=admin["access_token"])
    assert [u["email"] for u in admins] == ["admin@example.com"]  # the last admin
    page = new_page(admin["access_token"])
    page.goto("/admin/users")
    role = page.get_by_label("Role of admin@example.com")
    expect(role).to_have_value("admin")
    role.select_option("user")
    notifications = page.get_by_role("region", name="Notifications")
    expect(notifications).to_contain_text("The last admin cannot be removed or demoted")
    expect(role).to_have_value("admin")
    assert stack.api("GET", "/api/auth/me", token=admin["access_token"])["role"] == "admin"


def test_a_provider_error_shows_the_servers_message_once_in_the_chat(new_page, admin):
    page = new_page(admin["access_token"], fresh=True)  # routes its socket

    def through(ws):  # the server's answer ends as a provider failure would end it
        server = ws.connect_to_server()

        def down(message):
            event = json.loads(message)
            if event.get("type") == "chat.title":
                return  # the marker below is the only title
            if event.get("type") == "message.done":
                error = {"code": "provider_unavailable", "message": UNREACHABLE}
                ws.send(json.dumps({**event, "status": "error", "stop_reason": "error", "error": error}))
                ws.send(json.dumps({"type": "error", **error, "chat_id": event["chat_id"],
                                    "message_id": event["message_id"]}))
                # A last frame, so the test knows when the page has handled the two above.
                ws.send(json.dumps({"type": "chat.title", "chat_id": event["chat_id"], "title": "Failure seen"}))
                return
            ws.send(message)

        server.on_message(down)

    page.route_web_socket("**/ws?*", through)
    page.goto("/")
    send(page, "This will fail [[tokens=3]]")
    answer = wait_status(page, "error")
    expect(answer.get_by_role("alert")).to_have_text(UNREACHABLE)
    expect(page.get_by_role("heading", name="Failure seen", level=1)).to_be_visible()
    # Counted now, not waited for: a toast would be there (toasts go after 8 s).
    assert page.get_by_text(UNREACHABLE).count() == 1  # once: in the chat, not in a toast too
    assert page.get_by_role("region", name="Notifications").get_by_role("alert").count() == 0
    assert page.get_by_text("provider_unavailable").count() == 0


def test_a_model_disabled_while_a_chat_is_open_is_named_and_marked_unavailable(new_page, stack, admin):
    token = token_for(stack, "models@example.com", PASSWORD, "Mo")
    model_path = f"/api/models/{TEST_MODEL}"
    stack.api("PATCH", model_path, {"display_name": "Omni Test Model"}, token=admin["access_token"])
    try:
        page = new_page(token)
        page.goto("/")
        send(page, "Hello [[tokens=3]]")
        wait_status(page, "complete")
        expect(page.locator("#model-picker option:checked")).to_have_text("Omni Test Model")

        stack.api("PATCH", model_path, {"enabled": False}, token=admin["access_token"])
        send(page, "Still there? [[tokens=3]]")
        # The server refuses the send (model_not_found); the page says which model, by name.
        expect(page.get_by_role("status").filter(has_text="Omni Test Model is no longer available")).to_be_visible()
        expect(page.locator("#model-picker option:checked")).to_have_text("Omni Test Model (unavailable)")
        expect(page.get_by_role("article", name="Your message").last).to_contain_text("Not sent")
        # After a reload too (the model is no longer listed for this user at all).
        page.reload()
        expect(page.locator("#model-picker option:checked")).to_have_text("Omni Test Model (unavailable)")
        expect(page.get_by_role("status").filter(has_text="Omni Test Model is no longer available")).to_be_visible()
        expect(page.get_by_text("omnichat-test")).to_have_count(0)
    finally:
        stack.api("PATCH", model_path, {"enabled": True, "visibility": "everyone", "display_name": None},
                  token=admin["access_token"])


STOP_AND_WATCH = """async () => {
  const answer = [...document.querySelectorAll('article[aria-label="Assistant message"]')].pop();
  const text = () => (answer.querySelector('.prose')?.textContent || '').length;
  const atClick = text();
  window.__grewAfterStop = false;
  new MutationObserver(() => {
    if (answer.dataset.status === 'streaming' && text() > atClick) window.__grewAfterStop = true;
  }).observe(answer, { subtree: true, childList: true, characterData: true, attributes: true });
  document.querySelector('button[aria-label="Stop generating"]').click();
  await new Promise((r) => requestAnimationFrame(r));
  return [...document.querySelectorAll('[role="status"]')].some((e) => e.textContent.includes('Stopping…'));
}"""


def test_stop_shows_nothing_more_and_then_the_text_the_server_kept(new_page, stack, admin):
    page = new_page(admin["access_token"])
    page.goto("/")
    send(page, "A fast and long answer [[tokens=3000]] [[rate=300]]")
    wait_words(page, 20)
    assert page.evaluate(STOP_AND_WATCH), "no 'Stopping…' at the click"
    answer = wait_status(page, "stopped", timeout_ms=10_000)
    assert page.evaluate("window.__grewAfterStop") is False, "text kept arriving after Stop"
    expect(answer.get_by_text("Stopped", exact=True)).to_be_visible()
    saved = stack.api("GET", f"/api/chats/{chat_id(page)}", token=admin["access_token"])["messages"][-1]
    assert saved["status"] == "stopped"
    expect(answer.locator(".prose")).to_have_text(saved["content"].strip(), use_inner_text=True)
    expect(page.get_by_role("button", name="Send message")).to_be_visible()


def test_sign_in_and_sign_up_follow_the_signup_policy(new_page, stack, admin):
    page = new_page(None)
    page.goto("/signup")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    expect(page.get_by_text("becomes its administrator")).to_have_count(0)  # this server has one
    try:
        stack.api("PUT", "/api/admin/settings", {"signup_policy": "closed"}, token=admin["access_token"])
        page.goto("/signin")
        expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
        expect(page.get_by_text("Sign-up is closed")).to_be_visible()
        expect(page.get_by_role("link", name="Create an account")).to_have_count(0)
        page.goto("/signup")
        expect(page.get_by_text("Sign-up is closed on this server")).to_be_visible()
        expect(page.get_by_role("button", name="Create account")).to_have_count(0)
    finally:
        stack.api("PUT", "/api/admin/settings", {"signup_policy": "open"}, token=admin["access_token"])


def test_an_archived_chat_says_so_and_offers_unarchive(new_page, stack):
    token = token_for(stack, "archive@example.com", PASSWORD, "Archie")
    [cid] = import_chats(stack, token, [conversation("Old plans", [("What was the plan?", "To rest.")])])
    stack.api("PATCH", f"/api/chats/{cid}", {"archived": True}, token=token)
    page = new_page(token)
    page.goto(f"/c/{cid}")
    expect(page.get_by_role("heading", name="Old plans", level=1)).to_be_visible()
    chat = page.get_by_role("region", name="Chat")
    expect(chat.get_by_text("Archived", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Unarchive").click()
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
    expect(chat.get_by_text("Archived", exact=True)).to_have_count(0)
    assert stack.api("GET", f"/api/chats/{cid}", token=token)["chat"]["archived"] is False


def test_renaming_a_chat_keeps_its_place_in_the_list(new_page, stack):
    token = token_for(stack, "rename@example.com", PASSWORD, "Rena")
    import_chats(stack, token, [conversation(f"Chat {n}", [(f"q{n}", f"a{n}")]) for n in range(3)])
    page = new_page(token)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Chats")
    links = nav.get_by_role("link")
    expect(links).to_have_count(3)
    before = links.all_inner_texts()
    last = before[-1]
    nav.get_by_role("button", name=f"Actions for {last}").click()
    page.get_by_role("menuitem", name="Rename").click()
    title = page.get_by_role("textbox", name="Chat title")
    title.fill("Renamed chat")
    title.press("Enter")
    expect(links.last).to_have_text("Renamed chat")
    expect(links).to_have_text([*before[:-1], "Renamed chat"])
    page.reload()
    expect(links).to_have_text([*before[:-1], "Renamed chat"])


def test_admins_see_how_many_accounts_wait_for_approval(new_page, stack, admin):
    stack.api("PUT", "/api/admin/settings", {"signup_policy": "approval"}, token=admin["access_token"])
    try:
        stack.api("POST", "/api/auth/signup", {"email": "waiting@example.com", "password": PASSWORD})
    finally:
        stack.api("PUT", "/api/admin/settings", {"signup_policy": "open"}, token=admin["access_token"])
    waiting = stack.api("GET", "/api/admin/users?role=pending&limit=100", token=admin["access_token"])
    assert any(u["email"] == "waiting@example.com" for u in waiting)
    page = new_page(admin["access_token"])
    page.goto("/")
    link = page.get_by_role("link", name=f"Admin, {len(waiting)} waiting for approval")
    expect(link).to_be_visible()
    link.click()
    page.get_by_role("link", name="Users").click()
    page.get_by_role("button", name="Approve waiting@example.com").click()
    expect(page.get_by_role("row", name="waiting@example.com").get_by_role("combobox")).to_have_value("user")
    n = len(waiting) - 1
    name = f"Admin, {n} waiting for approval" if n else "Admin"
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

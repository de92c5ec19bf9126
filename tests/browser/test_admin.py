"""The admin area and the API keys page: pulling a model with a live progress bar (over
the WebSocket, from the local model catalog), per-model settings, the usage chart, and
keys that are shown once."""

from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.helpers import send, wait_status

PULLED = "ollama/smollm2:135m"


WATCH_PROGRESS = """() => {
    window.__progress = [];
    const record = () => {
        const bar = document.querySelector('[role="progressbar"][aria-label="Pull progress"]');
        if (!bar) return;
        const state = [bar.getAttribute("aria-valuenow"), bar.getAttribute("aria-valuetext")];
        const last = window.__progress[window.__progress.length - 1];
        if (!last || last[0] !== state[0] || last[1] !== state[1]) window.__progress.push(state);
    };
    new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                         characterData: true});
}"""


def test_an_admin_pulls_a_model_and_watches_the_progress_bar(new_page, stack, admin):
    page = new_page(admin["access_token"])
    page.goto("/admin/models")
    expect(page.get_by_role("row", name="ollama/omnichat-test:latest")).to_be_visible()
    expect(page.get_by_role("row", name=PULLED)).to_have_count(0)

    page.get_by_label("Model name").fill("smollm2:135m")
    # Record every state the bar is rendered in, in the page itself: polling from here
    # can miss a step the page shows for only a few milliseconds.
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Pull", exact=True).click()
    bar = page.get_by_role("progressbar", name="Pull progress")
    expect(bar).to_be_visible()
    installed = page.get_by_role("status").filter(has_text="smollm2:135m is installed")
    expect(installed).to_be_visible(timeout=120_000)
    seen = [tuple(state) for state in page.evaluate("window.__progress")]
    expect(bar).to_have_attribute("aria-valuenow", "100")
    values = [int(v) for v, _ in seen if v is not None]
    statuses = {t for _, t in seen if t and not t.endswith("%")}
    # It moved while we watched: several percentages, and Ollama's named steps in between.
    assert len(set(values)) >= 2 and statuses, seen
    # The new model is listed, enabled, and can be chosen for a chat.
    row = page.get_by_role("row", name=PULLED)
    expect(row).to_be_visible()
    expect(row.get_by_role("switch")).to_be_checked()
    screenshot(page, "admin-models-desktop-1280")


def test_model_settings_decide_what_people_can_pick(new_page, stack, admin):
    user = stack.sign_up("picker@example.com", "correct horse battery", "Pia")
    page = new_page(admin["access_token"])
    page.goto("/admin/models")
    row = page.get_by_role("row", name="ollama/omnichat-test:latest")
    row.get_by_label("Display name of ollama/omnichat-test:latest").fill("Test model")
    saved(page, lambda: row.get_by_label("Display name of ollama/omnichat-test:latest").press("Enter"))
    expect(row.get_by_label("Display name of ollama/omnichat-test:latest")).to_have_value("Test model")

    person = new_page(user["access_token"])
    person.goto("/")
    picker = person.get_by_role("combobox", name="Model")
    expect(picker.locator("optgroup[label='Ollama'] option", has_text="Test model")).to_have_count(1)

    try:
        # Each change is saved before the other page reloads: the select shows its new value
        # at once, while its PATCH may still be on the way.
        saved(page, lambda: row.get_by_label("Who can use ollama/omnichat-test:latest").select_option("admins"))
        person.reload()
        expect(pickable(person, "Test model")).to_have_count(0)
        saved(page, lambda: row.get_by_label("Who can use ollama/omnichat-test:latest").select_option("everyone"))

        saved(page, lambda: row.get_by_role("switch", name="Enable ollama/omnichat-test:latest").uncheck())
        person.reload()
        expect(pickable(person, "Test model")).to_have_count(0)
    finally:
        stack.api("PATCH", "/api/models/ollama/omnichat-test:latest",
                  {"enabled": True, "visibility": "everyone", "display_name": None}, token=admin["access_token"])


def saved(page, change) -> None:
    """Makes `change` on the admin page and waits for the model settings' PATCH it sends."""
    with page.expect_response(lambda r: r.request.method == "PATCH" and "/api/models/" in r.url) as patched:
        change()
    assert patched.value.ok, patched.value.text()


def pickable(page, name: str):
    """The picker's options named `name` that can be chosen: the model this page last used
    stays shown, disabled and marked "(unavailable)", once it is not offered any more."""
    return page.get_by_role("combobox", name="Model").locator("option:not([disabled])", has_text=name)


def _usage(days: int) -> dict:
    """A busy month in the shape of GET /api/admin/usage, for a chart with several series."""
    start = date.today() - timedelta(days=days - 1)
    by_model, by_user = [], []
    for i in range(days):
        d = (start + timedelta(days=i)).isoformat()
        for j, model in enumerate(["ollama/smollm2:135m", "bedrock/anthropic.claude-3-haiku", "ollama/llama3.2:3b"]):
            n = (i * 37 + j * 91) % 120 + (40 if j == 0 else 5)
            by_model.append({"date": d, "model": model, "calls": n // 10 + 1, "input_tokens": n * 40,
                             "output_tokens": n * 90})
        for j, email in enumerate(["ada@example.com", "bob@example.com"]):
            n = (i * 53 + j * 17) % 150 + 5
            by_user.append({"date": d, "user": email, "user_id": f"u{j}", "calls": n // 10 + 1,
                            "input_tokens": n * 50, "output_tokens": n * 110})
    return {"since": start.isoformat(), "days": days, "by_model": by_model, "by_user": by_user}


def test_the_usage_chart_shows_tokens_per_model_and_per_user(new_page, stack, admin):
    page = new_page(admin["access_token"])
    # One answer from the test model, so the real report has a row of today's usage.
    page.goto("/")
    send(page, "count my tokens [[tokens=7]]")
    wait_status(page, "complete")
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("link", name="Usage").click()
    usage = page.get_by_role("region", name="Token usage")  # the Cost card below has the same controls
    chart = usage.get_by_role("img", name="Tokens per day by model")
    expect(chart).to_be_visible()
    row = usage.get_by_role("row", name="omnichat-test")  # its display name, as in the picker
    expect(row).to_be_visible()
    calls = int(row.get_by_role("cell").nth(1).inner_text())
    assert calls >= 1
    usage.get_by_role("button", name="By user").click()
    expect(usage.get_by_role("row", name="admin@example.com")).to_be_visible()

    # A busier month (the same response shape, served by the test) draws stacked series.
    page.route("**/api/admin/usage?*",
               lambda route: route.fulfill(json=_usage(int(route.request.url.split("days=")[1]))))
    usage.get_by_role("button", name="By model").click()
    usage.get_by_label("Period", exact=True).select_option("7")
    usage.get_by_label("Period", exact=True).select_option("30")
    chart = usage.get_by_role("img", name="Tokens per day by model")
    expect(chart.locator("rect")).to_have_count(90)
    expect(usage.get_by_role("row", name="smollm2:135m")).to_be_visible()
    screenshot(page, "admin-usage-desktop-1280")
    usage.get_by_role("button", name="By user").click()
    expect(usage.get_by_role("row", name="bob@example.com")).to_be_visible()
    usage.get_by_label("Period", exact=True).select_option("7")
    expect(usage.get_by_role("img", name="Tokens per day by user").locator("rect")).to_have_count(14)


def test_api_keys_are_shown_once_and_can_be_revoked(new_page, stack, admin):
    for existing in stack.api("GET", "/api/keys", token=admin["access_token"]):  # another test's, on this stack
        stack.api("DELETE", f"/api/keys/{existing['id']}", token=admin["access_token"])
    page = new_page(admin["access_token"])
    page.goto("/keys")
    expect(page.get_by_text("You have no API keys yet.")).to_be_visible()
    page.get_by_label("Key name").fill("laptop scripts")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("New API key")
    expect(shown).to_contain_text("ock_")
    key = shown.inner_text().strip()
    # The key works for the API...
    assert any(m["id"] == "ollama/omnichat-test:latest" for m in stack.api("GET", "/api/models", token=key)["models"])
    screenshot(page, "keys-desktop-1280")
    # ...and is never shown again.
    page.reload()
    row = page.get_by_role("row", name="laptop scripts")
    expect(row).to_contain_text(key[:10])
    expect(page.get_by_text(key)).to_have_count(0)

    row.get_by_role("button", name="Revoke laptop scripts").click()
    dialog = page.get_by_role("dialog", name="Revoke “laptop scripts”?")
    dialog.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row", name="laptop scripts")).to_have_count(0)
    try:
        stack.api("GET", "/api/models", token=key)
    except AssertionError as exc:
        assert "401" in str(exc)
    else:
        raise AssertionError("a revoked key still works")

"""Presets in the page: a user makes their own on the Account page, picks it in the model
picker (under "Presets") and chats with it; an admin offers one to a named user from the
admin area's Presets tab."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, TEST_MODEL
from tests.browser.helpers import send, token_for, wait_status, words


def new_preset(page, slug: str, name: str):  # type: ignore[no-untyped-def]
    """The page's 'New preset' form, its slug, name and base model (TEST_MODEL) filled in."""
    form = page.get_by_role("form", name="New preset")
    form.get_by_label("Slug", exact=True).fill(slug)
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Base model").select_option(TEST_MODEL)
    return form


def test_a_user_makes_a_preset_picks_it_and_chats(new_page, stack, admin):
    token = token_for(stack, "pat@example.com", PASSWORD, "Pat")
    page = new_page(token)
    page.goto("/account")
    form = new_preset(page, "pirate", "Pirate")
    form.get_by_label("System prompt").fill("Answer like a pirate.")
    form.get_by_label("Max tokens").fill("5")
    form.get_by_role("button", name="Create preset").click()
    expect(page.locator("[data-preset='pirate']")).to_contain_text("preset/pirate")

    page.goto("/")
    picker = page.get_by_role("combobox", name="Model")
    expect(picker.locator("optgroup[label='Presets'] option", has_text="Pirate")).to_have_count(1)
    picker.select_option("preset/pirate")
    send(page, "hello there [[tokens=20]]")
    answer = wait_status(page, "complete")
    assert words(answer) == 5  # the preset's max tokens reached the model
    chats = stack.api("GET", "/api/chats", token=token)["chats"]
    assert chats[0]["model"] == "preset/pirate"


def test_an_admin_offers_a_preset_to_a_named_user(new_page, stack, admin):
    chosen = token_for(stack, "chosen@example.com", PASSWORD, "Chosen")
    other = token_for(stack, "other@example.com", PASSWORD, "Other")
    page = new_page(admin["access_token"])
    page.goto("/admin/presets")
    form = new_preset(page, "reviewer", "Code reviewer")
    form.get_by_label("Visible to").select_option("users")
    form.get_by_role("listbox", name="Users").select_option(label="chosen@example.com")
    form.get_by_role("button", name="Create preset").click()
    expect(page.locator("[data-preset='reviewer']")).to_contain_text("chosen@example.com")

    for token, count in ((chosen, 1), (other, 0)):
        person = new_page(token)
        person.goto("/")
        picker = person.get_by_role("combobox", name="Model")
        expect(picker.locator("option", has_text="Test")).not_to_have_count(0)  # the catalog has loaded
        expect(picker.locator("optgroup[label='Presets'] option", has_text="Code reviewer")).to_have_count(count)


def test_a_preset_bound_to_a_collection_and_its_question_reloaded(new_page, stack, admin):
    """The editor's "Knowledge collections" checkboxes bind a collection; a question asked
    with the preset shows it, after a reload too (the message JSON's `collections`)."""
    token = token_for(stack, "kit@example.com", PASSWORD, "Kit")
    made = stack.api("POST", "/api/collections", {"name": "Ship manuals"}, token=token)
    page = new_page(token)
    page.goto("/account")
    form = new_preset(page, "bosun", "Bosun")
    collections = form.get_by_role("group", name="Knowledge collections")
    collections.get_by_role("checkbox", name="Ship manuals").check()
    form.get_by_role("button", name="Create preset").click()
    expect(page.locator("[data-preset='bosun']")).to_contain_text("Knowledge: Ship manuals")
    assert stack.api("GET", "/api/presets", token=token)[0]["collections"] == [made["id"]]

    page.goto("/")
    page.get_by_role("combobox", name="Model").select_option("preset/bosun")
    send(page, "ahoy [[tokens=3]]")
    question = page.locator('article[aria-label="Your message"]').last
    expect(question.get_by_role("list", name="Attachments")).to_contain_text("Ship manuals")  # from the ack
    wait_status(page, "complete")
    page.reload()
    question = page.locator('article[aria-label="Your message"]').last
    expect(question.get_by_role("list", name="Attachments")).to_contain_text("Ship manuals")

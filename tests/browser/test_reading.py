"""Reading a long chat: a button brings the reader back to the latest message once they
scroll up, and every answer says when it was written and how fast (tokens per second)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.helpers import last_answer, send, token_for, wait_status, wait_words, words
from tests.browser.seed import MARKDOWN_ANSWER, conversation, import_chats

JUMP = "Scroll to the latest message"
DISTANCE_TO_BOTTOM = "() => { const s = document.querySelector('.scroll'); " \
                     "return s.scrollHeight - s.scrollTop - s.clientHeight; }"


def test_a_button_brings_the_reader_back_to_the_latest_message(new_page, stack):
    token = token_for(stack, "reader@example.com", PASSWORD, "Rea")
    turns = [(f"Question {n}", MARKDOWN_ANSWER) for n in range(8)]
    [chat_id] = import_chats(stack, token, [conversation("A long read", turns)])
    page = new_page(token)
    page.goto(f"/c/{chat_id}")
    expect(page.get_by_role("article", name="Assistant message")).to_have_count(8)
    jump = page.get_by_role("button", name=JUMP)
    expect(jump).to_have_count(0)  # at the bottom already

    page.get_by_role("log", name="Conversation").hover()
    page.mouse.wheel(0, -3000)
    expect(jump).to_be_visible()
    jump.click()
    expect(jump).to_have_count(0)
    assert page.evaluate(DISTANCE_TO_BOTTOM) < 80

    # Reading up while an answer streams: the view stays put, the button says more is coming.
    send(page, "One more [[tokens=300]] [[rate=60]]")
    wait_words(page, 10)
    page.get_by_role("log", name="Conversation").hover()
    page.mouse.wheel(0, -3000)
    expect(jump).to_be_visible()
    expect(jump.locator(".live")).to_have_count(1)
    before = page.evaluate(DISTANCE_TO_BOTTOM)
    wait_words(page, words(last_answer(page)) + 20)
    assert page.evaluate(DISTANCE_TO_BOTTOM) > before  # the text grew below the reader
    jump.click()  # back down, and following the answer again
    wait_status(page, "complete")
    assert page.evaluate(DISTANCE_TO_BOTTOM) < 80
    expect(jump).to_have_count(0)

    # Keyboard users reach it too: it is a real button, named.
    page.mouse.wheel(0, -3000)
    jump.focus()
    page.keyboard.press("Enter")
    expect(jump).to_have_count(0)


def test_answers_show_when_they_were_written_and_tokens_per_second(new_page, stack):
    token = token_for(stack, "timer@example.com", PASSWORD, "Tim")
    # Seeded usage: 180 tokens in 2.3 s.
    [chat_id] = import_chats(stack, token, [conversation("Timed", [("How fast?", "Quite fast.")])])
    page = new_page(token)
    page.goto(f"/c/{chat_id}")
    footer = last_answer(page).locator(".tools")
    expect(footer).to_contain_text("180 tokens · 2.3 s · 78.3 tokens/s")
    stamp = last_answer(page).locator("time")
    expect(stamp).to_have_text(re.compile(r"^\d{1,2}:\d{2}"))  # today: the time only
    assert stamp.get_attribute("datetime") and stamp.get_attribute("title")
    expect(page.get_by_role("article", name="Your message").locator("time")).to_have_count(1)

    send(page, "And now? [[tokens=20]]")
    wait_status(page, "complete")
    expect(last_answer(page).locator(".tools")).to_contain_text(re.compile(r"20 tokens · .* tokens/s"))
    expect(last_answer(page).locator("time")).to_have_text(re.compile(r"^\d{1,2}:\d{2}"))

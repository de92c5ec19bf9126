"""Automatic chat titles from small models: the title, not the model's preamble, cut at a
word boundary; the first words of the question when the model gives nothing usable."""

from __future__ import annotations

import pytest

from omnichat.chats.titles import DEFAULT_TITLE, MAX_TITLE, clean, fallback_title


@pytest.mark.parametrize("raw, title", [
    ("Here's a title for the conversation:\n\nPlanning a Trip to Lisbon", "Planning a Trip to Lisbon"),
    ("Sure! Here is a short title for this conversation:\n\"Baking Sourdough at Home\"", "Baking Sourdough at Home"),
    ("Title: Rust Lifetimes Explained", "Rust Lifetimes Explained"),
    ('"Quantum Computing Basics."', "Quantum Computing Basics"),
    ("**Tax Deadlines for Freelancers**", "Tax Deadlines for Freelancers"),
    ("## Sorting Algorithms Compared\nMore text", "Sorting Algorithms Compared"),
    ("Weekly Meal Prep", "Weekly Meal Prep"),
])
def test_the_title_is_taken_out_of_what_small_models_say(raw, title):
    assert clean(raw) == title


def test_a_long_answer_is_cut_at_a_word_boundary():
    raw = ("An exploration of the many different ways that people have historically approached the problem "
           "of learning new languages")
    title = clean(raw)
    assert len(title) <= MAX_TITLE and title.endswith("…")
    assert raw.startswith(title[:-1])
    assert raw[len(title) - 1] == " "  # the cut falls between words


@pytest.mark.parametrize("raw", ["", "\n\n", "Here's a title for the conversation:", "Title:"])
def test_nothing_usable_gives_nothing(raw):
    assert clean(raw) == ""


def test_the_fallback_is_the_question_cut_at_a_word_boundary():
    question = "How do I configure a reverse proxy in front of two application servers with sticky sessions?"
    title = fallback_title(question)
    assert title.endswith("…") and len(title) <= MAX_TITLE
    assert question.startswith(title[:-1])
    assert fallback_title("   ") == DEFAULT_TITLE

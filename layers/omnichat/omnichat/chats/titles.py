"""A title for a new chat after its first answer: asked of the same model, short, with
the first words of the question as the fallback when the model gives nothing usable."""

from __future__ import annotations

import re

from omnichat.providers import collect
from omnichat.providers.types import ChatProvider, ChatRequest, Finish, Message

DEFAULT_TITLE = "New chat"
MAX_TITLE = 60
PROMPT = ("Write a title of at most six words for a conversation that starts with the message below. "
          "Answer with the title only, no quotes.\n\n{question}")


def shorten(text: str) -> str:
    """At most MAX_TITLE characters, cut at a word boundary with "…"."""
    words = " ".join(text.split())
    if len(words) <= MAX_TITLE:
        return words
    cut = words[:MAX_TITLE - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:-") + "…"


def fallback_title(question: str) -> str:
    return shorten(question) or DEFAULT_TITLE


# What small models put around a title: "Sure! Here's a title for the conversation:",
# "Title: …", quotes, Markdown emphasis and headings.
_PREAMBLE = re.compile(r"^(sure|okay|ok|certainly|of course|here(?:'s| is| are)|a (?:short |possible )?title|"
                       r"suggested title|title suggestion)\b", re.I)
_LABEL = re.compile(r"^(?:(?:chat|conversation|suggested)\s+)?title\s*[:\-–]\s*", re.I)
_WRAPPING = " \"'*#`_“”‘’«»[]()"


def clean(raw: str) -> str:
    """The title in a model's answer, or "" when there is none: the first line that is not
    a preamble ("Here's a title for the conversation:"), without labels, quotes, Markdown
    or a final full stop, cut at a word boundary."""
    for line in raw.strip().splitlines():
        line = _LABEL.sub("", line.strip().strip(_WRAPPING)).strip(_WRAPPING)
        if not line or line.endswith(":") or (_PREAMBLE.match(line) and len(line.split()) > 3):
            continue
        return shorten(line.rstrip(".!;,").strip(_WRAPPING))
    return ""


MAX_TOKENS = 24


async def generate(provider: ChatProvider, model_name: str, question: str,
                   keep_alive: str | int | None = None) -> tuple[str, Finish | None]:
    """`keep_alive`: the model's own, or this call would cut how long Ollama keeps it."""
    request = ChatRequest(model=model_name, messages=(Message.text("user", PROMPT.format(question=question[:2000])),),
                          temperature=0.2, max_tokens=MAX_TOKENS, keep_alive=keep_alive)
    text, finish = await collect.answer(provider, request)
    title = clean(text)
    return (title if len(title) >= 3 else fallback_title(question)), finish

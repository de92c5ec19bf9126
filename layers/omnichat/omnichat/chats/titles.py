"""A title for a new chat after its first answer: asked of the same model, short, with
the first words of the question as the fallback when the model gives nothing usable."""

from __future__ import annotations

import re

from omnichat.providers.types import ChatProvider, ChatRequest, Finish, Message, TextDelta

DEFAULT_TITLE = "New chat"
MAX_TITLE = 60
PROMPT = ("Write a title of at most six words for a conversation that starts with the message below. "
          "Answer with the title only, no quotes.\n\n{question}")


def fallback_title(question: str) -> str:
    words = " ".join(question.split())
    if len(words) <= MAX_TITLE:
        return words or DEFAULT_TITLE
    return words[:MAX_TITLE].rsplit(" ", 1)[0] + "…"


def clean(raw: str) -> str:
    line = next((ln for ln in raw.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(title\s*:\s*)", "", line.strip(), flags=re.I).strip(" \"'*#`")
    return line[:MAX_TITLE].strip()


async def generate(provider: ChatProvider, model_name: str, question: str) -> tuple[str, Finish | None]:
    request = ChatRequest(model=model_name, messages=(Message.text("user", PROMPT.format(question=question[:2000])),),
                          temperature=0.2, max_tokens=24)
    text, finish = [], None
    async for event in provider.stream_chat(request):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Finish):
            finish = event
    title = clean("".join(text))
    return (title if len(title) >= 3 else fallback_title(question)), finish

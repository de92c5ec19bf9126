"""An answer read whole from a provider's stream, for callers that show nothing until it
ends (a chat's title, a benchmark). Imports only providers/types.py: the WebSocket path
titles chats with it."""

from __future__ import annotations

from omnichat.providers.types import ChatProvider, ChatRequest, Finish, TextDelta


async def answer(provider: ChatProvider, request: ChatRequest) -> tuple[str, Finish | None]:
    """The answer's text and its `Finish` (None: the stream ended without one)."""
    text: list[str] = []
    finish = None
    async for event in provider.stream_chat(request):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Finish):
            finish = event
    return "".join(text), finish

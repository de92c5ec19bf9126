"""The budget side of one model call, for every surface (WebSocket answers and titles,
/v1 chat and embeddings): its estimate, and the provider model whose prices apply."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from omnichat.billing.reservations import CHARS_PER_TOKEN, Ask
from omnichat.providers.fallback import FallbackProvider
from omnichat.providers.types import ChatRequest, ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock

if TYPE_CHECKING:
    from omnichat.catalog.catalog import ResolvedModel

IMAGE_TOKENS = 1600  # about what one image costs on the vision models


def own_id(model: ResolvedModel) -> str:
    """The provider model behind a model id (a preset's base)."""
    return f"{model.provider}/{model.name}"


def candidates(model: ResolvedModel) -> tuple[str, ...]:
    """The priced models a call may reach: its own, then its fallback chain's."""
    own = own_id(model)
    return (own, *(f for f in model.fallbacks if f != own))


def priced_by(chain: Any, asked: str) -> str:
    """The priced model of the fallback candidate that answered; `asked`'s if none did."""
    answered = chain.answered if isinstance(chain, FallbackProvider) else None
    return f"{answered.provider_name}/{answered.name}" if answered is not None else asked


def request_chars(request: ChatRequest) -> int:
    chars = len(request.system or "") + sum(len(json.dumps(t.input_schema)) + len(t.description)
                                            for t in request.tools)
    for message in request.messages:
        for block in message.content:
            if isinstance(block, TextBlock):
                chars += len(block.text)
            elif isinstance(block, ToolResultBlock):
                chars += len(block.content)
            elif isinstance(block, ToolUseBlock):
                chars += len(json.dumps(block.input))
            elif isinstance(block, ImageBlock):
                chars += IMAGE_TOKENS * CHARS_PER_TOKEN
    return chars


def chat_ask(model: ResolvedModel, request: ChatRequest) -> Ask:
    output = request.max_tokens
    if output is not None and request.reasoning_budget:
        output += request.reasoning_budget
    return Ask.of_text(candidates(model), request_chars(request), output)


def title_ask(model: ResolvedModel, question: str, max_tokens: int) -> Ask:
    return Ask.of_text(candidates(model), len(question), max_tokens)


def embed_ask(model: ResolvedModel, texts: list[str]) -> Ask:
    return Ask.of_text((own_id(model),), sum(len(t) for t in texts), 0)

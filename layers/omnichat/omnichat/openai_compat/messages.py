"""OpenAI chat messages -> OmniChat messages (the Converse model of a conversation).

- `system` and `developer` messages, wherever they appear, become the system prompt.
- `user` content is a string or parts: `text` and `image_url` (data URLs only: the
  server does not fetch remote URLs, so a client cannot make it reach into its network);
  `file` parts are made text or images before this (files.py).
- `assistant` content and `tool_calls` become text and `ToolUseBlock`s.
- `tool` results become `ToolResultBlock`s; consecutive results share one user turn, as
  Converse requires.

Every refusal is a 400 whose `param` points at the field, e.g.
`messages[1].content[0].image_url.url`."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from omnichat.checks import NotJson, load_json
from omnichat.providers.types import ContentBlock, ImageBlock, Message, TextBlock, ToolResultBlock, ToolUseBlock

from .errors import GatewayError, invalid

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*),(?P<data>.*)$", re.DOTALL)


def convert(messages: list[dict[str, Any]]) -> tuple[str | None, tuple[Message, ...]]:
    """(system prompt, conversation) for a request's `messages`."""
    system: list[str] = []
    turns: list[Message] = []
    results: list[ContentBlock] = []  # consecutive tool results, waiting for their turn

    def flush_results() -> None:
        if results:
            turns.append(Message(role="user", content=tuple(results)))
            results.clear()

    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(where, f"Invalid type for '{where}': expected an object.", code="invalid_type")
        role = message.get("role")
        if role == "tool":
            results.append(_tool_result(message, where))
            continue
        flush_results()
        if role in ("system", "developer"):
            text = _text_only(message.get("content"), f"{where}.content", required=True)
            if text.strip():
                system.append(text)
        elif role == "user":
            turns.append(Message(role="user", content=_user_content(message.get("content"), f"{where}.content")))
        elif role == "assistant":
            turns.append(_assistant(message, where))
        elif role == "function":
            raise invalid(f"{where}.role", "Messages with role 'function' are not supported: use tools and "
                          "role 'tool'.", code="unsupported_value")
        else:
            raise invalid(f"{where}.role", f"Invalid value for '{where}.role': expected one of 'system', "
                          "'developer', 'user', 'assistant' or 'tool'.", code="invalid_value")
    flush_results()
    if not turns:
        raise invalid("messages", "'messages' must contain a user, assistant or tool message.", code="invalid_value")
    return ("\n\n".join(system) or None), tuple(turns)


# ---- content -----------------------------------------------------------------------------
def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        raise invalid(where, f"Invalid type for '{where}': expected a string or an array of content parts.",
                      code="invalid_type")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid(f"{where}[{j}]", f"Invalid content part '{where}[{j}]': expected an object with a "
                          "'type'.", code="invalid_type")
    return content


def _text_of(part: dict[str, Any], where: str, key: str = "text") -> str:
    text = part.get(key)
    if not isinstance(text, str):
        raise invalid(f"{where}.{key}", f"Invalid type for '{where}.{key}': expected a string.", code="invalid_type")
    return text


def _text_only(content: Any, where: str, *, required: bool) -> str:
    """Content that may only hold text (system, developer, tool): a string or text parts."""
    if content is None and not required:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for j, part in enumerate(_parts(content, where)):
        if part["type"] != "text":
            raise invalid(f"{where}[{j}].type", f"Content parts of type '{part['type']}' are not allowed here: "
                          "only 'text'.", code="unsupported_value")
        out.append(_text_of(part, f"{where}[{j}]"))
    return "\n".join(out)


def _user_content(content: Any, where: str) -> tuple[ContentBlock, ...]:
    if isinstance(content, str):
        return (TextBlock(content),)
    blocks: list[ContentBlock] = []
    for j, part in enumerate(_parts(content, where)):
        at = f"{where}[{j}]"
        if part["type"] == "text":
            blocks.append(TextBlock(_text_of(part, at)))
        elif part["type"] == "image_url":
            blocks.append(image_block(part.get("image_url"), f"{at}.image_url"))
        else:
            raise invalid(f"{at}.type", f"Content parts of type '{part['type']}' are not supported: send 'text', "
                          "'image_url' and 'file' parts.", code="unsupported_value")
    if not blocks:
        raise invalid(where, f"'{where}' must not be empty.", code="invalid_value")
    return tuple(blocks)


def image_block(image_url: Any, where: str) -> ImageBlock:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise invalid(f"{where}.url", f"Invalid type for '{where}.url': expected a string.", code="invalid_type")
    if not url.startswith("data:"):
        raise invalid(f"{where}.url", "Image URLs are not fetched by this server: send the image inline as a data "
                      "URL (data:image/png;base64,...).", code="unsupported_image_url")
    match = _DATA_URL.match(url)
    if match is None or ";base64" not in match.group("params"):
        raise invalid(f"{where}.url", "Invalid image data URL: expected data:image/<type>;base64,<data>.",
                      code="invalid_image_url")
    mime = (match.group("mime") or "").lower()
    if mime not in IMAGE_FORMATS:
        raise invalid(f"{where}.url", f"Unsupported image type {mime or 'none'!r}: send PNG, JPEG, GIF or WebP.",
                      code="invalid_image_format")
    try:
        data = base64.b64decode(re.sub(r"\s+", "", match.group("data")), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{where}.url", "Invalid image data URL: the data is not valid base64.",
                      code="invalid_image_url") from None
    if not data:
        raise invalid(f"{where}.url", "Invalid image data URL: the image is empty.", code="invalid_image_url")
    return ImageBlock(data=data, format=IMAGE_FORMATS[mime])  # type: ignore[arg-type]


# ---- assistant turns and tool results ----------------------------------------------------
def _assistant(message: dict[str, Any], where: str) -> Message:
    content = message.get("content")
    blocks: list[ContentBlock] = []
    if isinstance(content, str):
        blocks.append(TextBlock(content))
    elif content is not None:
        for j, part in enumerate(_parts(content, f"{where}.content")):
            if part["type"] not in ("text", "refusal"):
                raise invalid(f"{where}.content[{j}].type", "Assistant content parts must be 'text' or 'refusal'.",
                              code="unsupported_value")
            blocks.append(TextBlock(_text_of(part, f"{where}.content[{j}]", part["type"])))
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise invalid(f"{where}.tool_calls", f"Invalid type for '{where}.tool_calls': expected an array.",
                          code="invalid_type")
        blocks.extend(_tool_use(call, f"{where}.tool_calls[{k}]") for k, call in enumerate(calls))
    if not blocks:
        blocks.append(TextBlock(""))  # an empty turn keeps user/assistant alternation visible
    return Message(role="assistant", content=tuple(blocks))


def _tool_use(call: Any, where: str) -> ToolUseBlock:
    if not isinstance(call, dict):
        raise invalid(where, f"Invalid type for '{where}': expected an object.", code="invalid_type")
    function = call.get("function")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.id", f"Missing required parameter: '{where}.id'.", code="missing_required_parameter")
    if call.get("type", "function") != "function" or not isinstance(function, dict):
        raise invalid(f"{where}.function", f"'{where}' must be a function call.", code="invalid_value")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{where}.function.name", f"Missing required parameter: '{where}.function.name'.",
                      code="missing_required_parameter")
    arguments = function.get("arguments", "")
    if isinstance(arguments, dict):  # some clients send an object rather than its JSON text
        return ToolUseBlock(id=call_id, name=name, input=arguments)
    if not isinstance(arguments, str):
        raise invalid(f"{where}.function.arguments", "Tool call arguments must be a JSON string.",
                      code="invalid_type")
    try:
        parsed = load_json(arguments) if arguments.strip() else {}
    except NotJson:
        raise invalid(f"{where}.function.arguments", "Tool call arguments are not valid JSON.",
                      code="invalid_value") from None
    if not isinstance(parsed, dict):
        raise invalid(f"{where}.function.arguments", "Tool call arguments must be a JSON object.",
                      code="invalid_value")
    return ToolUseBlock(id=call_id, name=name, input=parsed)


def _tool_result(message: dict[str, Any], where: str) -> ToolResultBlock:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.tool_call_id", f"Missing required parameter: '{where}.tool_call_id'.",
                      code="missing_required_parameter")
    return ToolResultBlock(tool_use_id=call_id, content=_text_only(message.get("content"), f"{where}.content",
                                                                   required=False))


def check_tool_results(turns: tuple[Message, ...]) -> None:
    """Every tool result answers a tool call made earlier in the conversation (otherwise
    the backend refuses the request with a far less helpful message)."""
    called: set[str] = set()
    for turn in turns:
        for block in turn.content:
            if isinstance(block, ToolUseBlock):
                called.add(block.id)
            elif isinstance(block, ToolResultBlock) and block.tool_use_id not in called:
                raise GatewayError(400, f"Tool result for '{block.tool_use_id}' answers no tool call in an "
                                   "earlier assistant message.", code="invalid_value", param="messages")

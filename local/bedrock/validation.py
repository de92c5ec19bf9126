"""Check a Converse / ConverseStream body the way Bedrock does, and turn it into a
`ConverseCall`: plain chat turns an engine understands plus the parameters to honour.

Messages follow Bedrock's (phrasing of its) validation errors so a client bug shows up
here the way it would against AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .caching import CacheMarks, Checkpoint
from .catalog import FoundationModel
from .errors import validation

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_IMAGE_MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "webp": (b"RIFF",),
}
MAX_IMAGE_BYTES = 3_750_000
THINKING_MIN_BUDGET = 1024

# Bedrock's wording for the errors a client most often trips over.
_MODEL_SAYS = "The model returned the following errors: "
MESSAGES = {
    "first_user": "A conversation must start with a user message. Try again with a "
    "conversation that starts with a user message.",
    "alternate": "A conversation must alternate between user and assistant roles. Make sure "
    "the conversation alternates between user and assistant roles and try again.",
    "empty_content": "The content field in the Message object at {where} is empty. Add a "
    "ContentBlock object to the content field and try again.",
    "blank_text": "The text field in the ContentBlock object at {where} is blank. Add text to "
    "the text field, and try again.",
    "no_images": "This model doesn't support the image content block that you provided. "
    "Try again with a supported model.",
    "no_system": "This model doesn't support system messages. Try again without a system prompt.",
    "no_tool_config": "The toolConfig field must be defined when using toolUse and toolResult "
    "content blocks.",
    "unmatched_result": "The toolResult block at {where} doesn't match a toolUse block of the "
    "previous turn.",
    "not_chat": "This action doesn't support the model that you provided. Try again with a "
    "supported text or chat model.",
    "max_tokens": "The maximum tokens you requested exceeds the model limit of {limit}. Try "
    "again with a maximum tokens value that is lower than {limit}.",
    "too_long": "Input is too long for requested model.",
    "no_thinking": _MODEL_SAYS + "extraneous key [thinking] is not permitted",
    "thinking_type": _MODEL_SAYS + "thinking.type: Input should be 'enabled' or 'disabled'",
    "thinking_budget": _MODEL_SAYS + "thinking.enabled.budget_tokens: Input should be "
    f"greater than or equal to {THINKING_MIN_BUDGET}",
    "thinking_max_tokens": _MODEL_SAYS + "`max_tokens` must be greater than "
    "`thinking.budget_tokens`.",
    "thinking_temperature": _MODEL_SAYS + "`temperature` may only be set to 1 when thinking "
    "is enabled.",
    "thinking_forced_tool": _MODEL_SAYS + "Thinking may not be enabled when tool_choice forces tool use.",
    "tool_choice": "This model doesn't support the toolConfig.toolChoice.{kind} field. Remove "
    "toolConfig.toolChoice.{kind} and try again.",
}


def _invalid(key: str, **values: Any) -> Exception:
    return validation(MESSAGES[key].format(**values))


@dataclass(frozen=True)
class ToolDef:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass
class ConverseCall:
    model: FoundationModel
    turns: list[dict[str, str]]  # engine input: {"role", "content"}, system first
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tools: dict[str, ToolDef] = field(default_factory=dict)
    tool_choice: str | None = None  # "auto" | "any" | a tool name
    thinking_budget: int | None = None
    image_count: int = 0
    cache_points: tuple[Checkpoint, ...] = ()  # the cachePoints that count (caching.py)
    tool_tokens: int = 0  # the tool definitions' share of the prompt
    output_schema: dict[str, Any] | None = None  # outputConfig.textFormat: the answer is JSON

    @property
    def last_user_text(self) -> str:
        return next((t["content"] for t in reversed(self.turns) if t["role"] == "user"), "")


def _words(text: str) -> int:
    return len(text.split())


def _number(value: Any, where: str, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise validation(f"1 validation error detected: Value at '{where}' must be a number")
    if value < low or (high is not None and value > high):
        bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
        raise validation(
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
            f"constraint: Member must have value {bound}"
        )
    return value


def _image(block: Any, where: str) -> tuple[str, bytes]:
    if not isinstance(block, dict) or block.get("format") not in _IMAGE_MAGIC:
        raise validation(f"The format of the image at {where} must be one of png, jpeg, gif, webp.")
    source = block.get("source")
    if not isinstance(source, dict) or "bytes" not in source:
        raise validation(f"The image at {where} must have a source with bytes.")
    try:
        data = base64.b64decode(source["bytes"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise validation(f"The image bytes at {where} are not valid base64.") from None
    if not data:
        raise validation(f"The image at {where} is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise validation(f"The image at {where} exceeds the maximum size of 3.75 MB.")
    if not data.startswith(_IMAGE_MAGIC[block["format"]]):
        raise validation(f"Could not process image at {where}: not a valid {block['format']} image.")
    return block["format"], data


def _tool_result_text(block: dict[str, Any], where: str) -> str:
    parts = []
    for item in block.get("content") or []:
        if not isinstance(item, dict):
            raise validation(f"Invalid tool result content at {where}.")
        if "text" in item:
            parts.append(str(item["text"]))
        elif "json" in item:
            parts.append(json.dumps(item["json"], sort_keys=True))
        elif "image" in item:
            fmt, data = _image(item["image"], where)
            parts.append(f"[image {fmt} {len(data)} bytes]")
        else:
            parts.append("[document]")
    return " ".join(parts)


class _Flattener:
    """Walks content blocks, checks them, and renders them as engine text."""

    def __init__(self, model: FoundationModel, marks: CacheMarks) -> None:
        self.model = model
        self.marks = marks  # fed everything rendered, in prefix order
        self.image_count = 0
        self.uses_tools = False

    def block(self, block: Any, role: str, where: str, prior_tool_ids: set[str]) -> str | None:
        if not isinstance(block, dict) or len(block) != 1:
            raise validation(f"The ContentBlock at {where} must set exactly one member.")
        (kind, value), = block.items()
        if kind == "text":
            if not isinstance(value, str) or not value.strip():
                raise _invalid("blank_text", where=where)
            return value
        if kind == "image":
            if not self.model.images:
                raise _invalid("no_images")
            fmt, data = _image(value, where)
            self.image_count += 1
            return f"[image {fmt} {len(data)} bytes]"
        if kind == "toolUse":
            if role != "assistant":
                raise validation(f"The toolUse block at {where} is only allowed for the assistant.")
            if not isinstance(value, dict) or not value.get("toolUseId") or not value.get("name"):
                raise validation(f"The toolUse block at {where} needs toolUseId, name and input.")
            self.uses_tools = True
            return f"[tool call {value['name']} {json.dumps(value.get('input'), sort_keys=True)}]"
        if kind == "toolResult":
            if role != "user":
                raise validation(f"The toolResult block at {where} is only allowed in user messages.")
            if not isinstance(value, dict) or value.get("toolUseId") not in prior_tool_ids:
                raise _invalid("unmatched_result", where=where)
            self.uses_tools = True
            return f"[tool result {value['toolUseId']}: {_tool_result_text(value, where)}]"
        if kind == "cachePoint":
            self.marks.mark(value, where)
            return None
        if kind in ("reasoningContent", "document", "guardContent"):
            return None if kind == "reasoningContent" else f"[{kind}]"
        raise validation(f"The content block type {kind!r} at {where} is not supported.")


def _messages(body: dict[str, Any], flat: _Flattener) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("first_user")
    turns: list[dict[str, str]] = []
    previous_role: str | None = None
    prior_tool_ids: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise validation(f"messages.{i}.role must be either 'user' or 'assistant'.")
        role = message["role"]
        if i == 0 and role != "user":
            raise _invalid("first_user")
        if role == previous_role:
            raise _invalid("alternate")
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise _invalid("empty_content", where=f"messages.{i}")
        parts = []
        for j, block in enumerate(content):
            text = flat.block(block, role, f"messages.{i}.content.{j}", prior_tool_ids)
            if text is not None:
                parts.append(text)
                flat.marks.text(text)
        prior_tool_ids = {
            b["toolUse"]["toolUseId"] for b in content if isinstance(b, dict) and "toolUse" in b
        }
        turns.append({"role": role, "content": " ".join(parts)})
        previous_role = role
    return turns


def _system(body: dict[str, Any], flat: _Flattener) -> list[dict[str, str]]:
    system = body.get("system")
    if not system:
        return []
    if not flat.model.system_prompts:
        raise _invalid("no_system")
    if not isinstance(system, list):
        raise validation("system must be a list of SystemContentBlock objects.")
    parts = []
    for i, block in enumerate(system):
        if isinstance(block, dict) and "cachePoint" in block:
            flat.marks.mark(block["cachePoint"], f"system.{i}")
        elif isinstance(block, dict) and isinstance(block.get("text"), str) and block["text"].strip():
            parts.append(block["text"])
            flat.marks.text(block["text"])
        else:
            raise validation(f"The system content block at system.{i} must contain non-blank text.")
    return [{"role": "system", "content": "\n".join(parts)}] if parts else []


def _tools(
    body: dict[str, Any], model: FoundationModel, uses_tools: bool,
) -> tuple[dict[str, ToolDef], str | None]:
    config = body.get("toolConfig")
    if config is None:
        if uses_tools:
            raise _invalid("no_tool_config")
        return {}, None
    if not isinstance(config, dict):
        raise validation("toolConfig must be a JSON object.")
    if not model.tools:
        raise validation("This model doesn't support tool use.")
    tools: dict[str, ToolDef] = {}
    for i, tool in enumerate(config.get("tools") or []):
        if isinstance(tool, dict) and "cachePoint" in tool:  # checked by CacheMarks.tools
            continue
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not _TOOL_NAME.match(str(spec.get("name", ""))):
            raise validation(f"toolConfig.tools.{i}.toolSpec.name must match [a-zA-Z0-9_-]{{1,64}}.")
        schema = (spec.get("inputSchema") or {}).get("json")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise validation(f"toolConfig.tools.{i}.toolSpec.inputSchema.json must be an object schema.")
        tools[spec["name"]] = ToolDef(spec["name"], spec.get("description", ""), schema)
    if not tools:
        raise validation("toolConfig.tools must contain at least one tool.")
    choice = config.get("toolChoice") or {"auto": {}}
    forced = next((kind for kind in ("tool", "any") if kind in choice), None)
    if forced is not None and forced not in model.tool_choices:
        raise _invalid("tool_choice", kind=forced)
    if "tool" in choice:
        name = (choice["tool"] or {}).get("name")
        if name not in tools:
            raise validation(f"toolConfig.toolChoice.tool.name {name!r} is not one of the tools.")
        return tools, name
    if "any" in choice:
        return tools, "any"
    return tools, "auto"


def _output_schema(body: dict[str, Any], model: FoundationModel) -> dict[str, Any] | None:
    """Structured output: `outputConfig.textFormat`'s JSON schema (sent as a string)."""
    config = body.get("outputConfig")
    text_format = config.get("textFormat") if isinstance(config, dict) else None
    if config is not None and not isinstance(config, dict):
        raise validation("outputConfig must be a JSON object.")
    if text_format is None:
        return None
    if not model.structured_output:
        raise validation("This model doesn't support the outputConfig.textFormat field. Remove "
                         "outputConfig.textFormat and try again.")
    if not isinstance(text_format, dict) or text_format.get("type") != "json_schema":
        raise validation("outputConfig.textFormat.type must be json_schema.")
    raw = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema")
    try:
        schema = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        schema = None
    if not isinstance(schema, dict):
        raise validation("outputConfig.textFormat.structure.jsonSchema.schema must be a JSON schema object, "
                         "as a string.")
    return schema


def _thinking(
    body: dict[str, Any], model: FoundationModel, max_tokens: int, temperature: float | None,
    forced_tool: bool = False,
) -> int | None:
    extra = body.get("additionalModelRequestFields") or {}
    if not isinstance(extra, dict):
        raise validation("additionalModelRequestFields must be a JSON object.")
    thinking = extra.get("thinking")
    if thinking is None:
        return None
    if not model.reasoning:
        raise _invalid("no_thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
        raise _invalid("thinking_type")
    if thinking["type"] == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < THINKING_MIN_BUDGET:
        raise _invalid("thinking_budget")
    if max_tokens <= budget:
        raise _invalid("thinking_max_tokens")
    if temperature is not None and temperature != 1:
        raise _invalid("thinking_temperature")
    if forced_tool:
        raise _invalid("thinking_forced_tool")
    return budget


def parse_converse(body: Any, model: FoundationModel) -> ConverseCall:
    if not isinstance(body, dict):
        raise validation("The request body must be a JSON object.")
    if not model.is_chat:
        raise _invalid("not_chat")
    marks = CacheMarks(model)
    tool_tokens = marks.tools(body.get("toolConfig"))  # the prefix runs tools, system, messages
    flat = _Flattener(model, marks)
    system_turns = _system(body, flat)
    turns = system_turns + _messages(body, flat)

    config = body.get("inferenceConfig") or {}
    if not isinstance(config, dict):
        raise validation("inferenceConfig must be a JSON object.")
    max_tokens = config.get("maxTokens", model.max_output_tokens)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise validation("Value at 'inferenceConfig.maxTokens' must be an integer")
    _number(max_tokens, "inferenceConfig.maxTokens", 1, None)
    if max_tokens > model.max_output_tokens:
        raise _invalid("max_tokens", limit=model.max_output_tokens)
    temperature = config.get("temperature")
    top_p = config.get("topP")
    if temperature is not None:
        temperature = float(_number(temperature, "inferenceConfig.temperature", 0, 1))
    if top_p is not None:
        top_p = float(_number(top_p, "inferenceConfig.topP", 0, 1))
    stop = config.get("stopSequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise validation("inferenceConfig.stopSequences must be a list of non-empty strings.")

    tools, tool_choice = _tools(body, model, flat.uses_tools)
    budget = _thinking(body, model, max_tokens, temperature, tool_choice not in (None, "auto"))
    if sum(_words(t["content"]) for t in turns) > model.context_window:
        raise _invalid("too_long")
    marks.check()
    return ConverseCall(
        model=model, turns=turns, max_tokens=max_tokens, temperature=temperature,
        top_p=top_p, stop=tuple(stop), tools=tools, tool_choice=tool_choice,
        thinking_budget=budget, image_count=flat.image_count,
        cache_points=tuple(marks.points), tool_tokens=tool_tokens, output_schema=_output_schema(body, model),
    )

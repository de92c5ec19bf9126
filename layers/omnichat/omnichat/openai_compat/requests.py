"""A validated `/v1/chat/completions` body -> the provider-neutral `ChatRequest`.

Parameters map one to one where Converse and Ollama have them (`max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `stop`, `tools`, `tool_choice`);
the model's admin-set defaults fill what the client left out. What cannot be honoured
(`n` > 1, `logprobs`, JSON output on Bedrock) is refused with a 400 rather than ignored."""

from __future__ import annotations

from typing import Any

from omnichat.catalog.catalog import ResolvedModel
from omnichat.providers.types import ChatRequest, ToolSpec

from . import messages
from .errors import invalid
from .schemas import ChatCompletionBody

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def chat_request(body: ChatCompletionBody, model: ResolvedModel, reasoning_budget: int | None) -> ChatRequest:
    unsupported(body)
    system, turns = messages.convert(body.messages)
    messages.check_tool_results(turns)
    tools = tool_specs(body)
    defaults = model.settings.params or {}
    max_tokens = body.max_completion_tokens or body.max_tokens or defaults.get("max_tokens")
    return ChatRequest(
        model=model.name,
        messages=turns,
        system=system,
        temperature=body.temperature if body.temperature is not None else defaults.get("temperature"),
        top_p=body.top_p if body.top_p is not None else defaults.get("top_p"),
        max_tokens=max_tokens,
        stop=stop_sequences(body.stop),
        tools=tools,
        tool_choice=tool_choice(body, tools),
        reasoning_budget=reasoning_budget,
        extra=response_format(body, model.provider),
    )


def unsupported(body: ChatCompletionBody) -> None:
    if body.n not in (None, 1):
        raise invalid("n", "Only n=1 is supported.", code="unsupported_value")
    if body.stream_options is not None and not body.stream:
        raise invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.",
                      code="invalid_value")
    if body.logprobs:
        raise invalid("logprobs", "logprobs are not supported by this server.", code="unsupported_value")


def stop_sequences(stop: str | list[str] | None) -> tuple[str, ...]:
    values = [stop] if isinstance(stop, str) else list(stop or ())
    if len(values) > 4:
        raise invalid("stop", "'stop' takes at most 4 sequences.", code="invalid_value")
    if any(not s for s in values):
        raise invalid("stop", "Stop sequences must not be empty.", code="invalid_value")
    return tuple(values)


def tool_specs(body: ChatCompletionBody) -> tuple[ToolSpec, ...]:
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for i, tool in enumerate(body.tools or ()):
        fn = tool.function
        if fn.name in seen:
            raise invalid(f"tools[{i}].function.name", f"Duplicate tool name {fn.name!r}.", code="invalid_value")
        seen.add(fn.name)
        schema = fn.parameters or EMPTY_SCHEMA
        if schema.get("type", "object") != "object":
            raise invalid(f"tools[{i}].function.parameters", "Tool parameters must be a JSON schema of type "
                          "'object'.", code="invalid_value")
        specs.append(ToolSpec(name=fn.name, description=fn.description or "", input_schema=schema))
    return tuple(specs)


def tool_choice(body: ChatCompletionBody, tools: tuple[ToolSpec, ...]) -> str | None:
    """OpenAI's choice in `ChatRequest`'s vocabulary: auto | any | none | a tool name."""
    choice = body.tool_choice
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("none", "auto"):
            return choice
        if not tools:
            raise invalid("tool_choice", "'tool_choice' is only allowed when 'tools' are given.",
                          code="invalid_value")
        return "any"  # "required"
    name = choice.function.name
    if name not in {t.name for t in tools}:
        raise invalid("tool_choice", f"'tool_choice' names the function {name!r}, which is not in 'tools'.",
                      code="invalid_value")
    return name


def response_format(body: ChatCompletionBody, provider: str) -> dict[str, Any]:
    """Ollama constrains output to JSON (`format`); Converse has no such switch."""
    fmt = body.response_format
    kind = (fmt or {}).get("type", "text")
    if kind == "text":
        return {}
    if kind not in ("json_object", "json_schema"):
        raise invalid("response_format.type", "'response_format.type' must be 'text', 'json_object' or "
                      "'json_schema'.", code="invalid_value")
    if provider != "ollama":
        raise invalid("response_format", "JSON output modes are not supported for this model: describe the "
                      "output in the prompt, or use tools.", code="unsupported_value")
    if kind == "json_object":
        return {"format": "json"}
    schema = ((fmt or {}).get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        raise invalid("response_format.json_schema.schema", "Missing required parameter: "
                      "'response_format.json_schema.schema'.", code="missing_required_parameter")
    return {"format": schema}

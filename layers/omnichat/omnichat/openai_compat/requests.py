"""A validated `/v1/chat/completions` body -> the provider-neutral `ChatRequest`.

Parameters map one to one where Converse and Ollama have them (`max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `stop`, `tools`, `tool_choice`);
the model's admin-set defaults fill what the client left out. What cannot be honoured
(`n` > 1, `logprobs`, JSON output on a model that cannot give it) is refused with a 400
rather than ignored."""

from __future__ import annotations

from typing import Any

from omnichat.catalog.catalog import ResolvedModel
from omnichat.providers import structured
from omnichat.providers.types import ChatRequest, ResponseFormat, ToolSpec

from . import messages
from .errors import invalid
from .schemas import TOOL_NAME, ChatCompletionBody

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
        # A preset's system prompt first, the request's own after it (as in a chat).
        system="\n\n".join(p for p in (model.system, system) if p) or None,
        temperature=body.temperature if body.temperature is not None else defaults.get("temperature"),
        top_p=body.top_p if body.top_p is not None else defaults.get("top_p"),
        max_tokens=max_tokens,
        stop=stop_sequences(body.stop),
        tools=tools,
        tool_choice=tool_choice(body, tools),
        reasoning_budget=reasoning_budget,
        response_format=response_format(body, model, bool(tools)),
        keep_alive=model.settings.keep_alive,
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


def response_format(body: ChatCompletionBody, model: ResolvedModel, has_tools: bool) -> ResponseFormat | None:
    """OpenAI's `response_format` as a `ResponseFormat`; a schema that is not one, or a model
    that cannot answer in JSON, is a 400 naming it."""
    fmt = body.response_format or {}
    kind = fmt.get("type", "text")
    if kind == "text":
        return None
    if kind not in ("json_object", "json_schema"):
        raise invalid("response_format.type", "'response_format.type' must be 'text', 'json_object' or "
                      "'json_schema'.", code="invalid_value")
    reason = structured.unsupported_reason(model.provider, model.name, has_tools, shown=model.id)
    if reason is not None:
        raise invalid("response_format", reason, code="unsupported_value")
    result = ResponseFormat(kind="json") if kind == "json_object" else _json_schema(fmt.get("json_schema"))
    if model.provider == "bedrock" and result.schema is not None and result.schema.get("type") != "object":
        raise invalid("response_format.json_schema.schema", f"The model '{model.id}' can only give a JSON object: "
                      "give a schema whose root has \"type\": \"object\".", code="unsupported_value")
    return result


def _json_schema(spec: Any) -> ResponseFormat:
    param = "response_format.json_schema"
    if spec is None:
        raise invalid(param, f"Missing required parameter: '{param}'.", code="missing_required_parameter")
    if not isinstance(spec, dict):
        raise invalid(param, f"Invalid type for '{param}': expected an object.", code="invalid_type")
    name = spec.get("name", "json_response")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise invalid(f"{param}.name", "The schema's name must be 1 to 64 letters, digits, '_' or '-'.")
    strict = spec.get("strict") or False
    if not isinstance(strict, bool):
        raise invalid(f"{param}.strict", f"Invalid value for '{param}.strict': expected a boolean.")
    if "schema" not in spec:
        raise invalid(f"{param}.schema", f"Missing required parameter: '{param}.schema'.",
                      code="missing_required_parameter")
    problem = structured.schema_problem(spec["schema"])
    if problem is not None:
        raise invalid(f"{param}.schema", f"Invalid schema for response_format '{name}': {problem}.",
                      code="invalid_json_schema")
    return ResponseFormat(kind="json_schema", schema=spec["schema"], name=name, strict=strict)

"""Structured output (JSON answers): which models can give it, whether a schema is one, and
the strict check of a finished answer.

Ollama constrains decoding itself (`format`: llama.cpp grammars, any model). On Bedrock,
the newest Claude models have it natively (Converse `outputConfig.textFormat`); the others
answer through one tool whose input schema is the requested one, forced with `toolChoice`,
which only some model families honour (`bedrock_forcing`). The tool's input is the answer;
the Bedrock provider streams it as text.

`jsonschema` is imported on first use only: a chat without a schema never pays for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from .errors import ProviderError
from .types import ChatRequest, Finish, ResponseFormat, StreamEvent, TextDelta

# The schema of a `json_object` answer on Bedrock: any object (a tool's input is one).
ANY_OBJECT: dict[str, Any] = {"type": "object"}

# Bedrock families that honour a forced tool choice, and the form each takes: Claude 3 and
# later and Nova a named tool; Mistral Large only `any`, which with one tool forces the same
# call. Llama, Titan, Cohere and the rest refuse toolChoice beyond `auto` (a ValidationException).
_FORCED_TOOL_CHOICE: tuple[tuple[re.Pattern[str], Literal["tool", "any"]], ...] = (
    (re.compile(r"anthropic\.claude-(3|sonnet-[4-9]|opus-[4-9]|haiku-[4-9])", re.I), "tool"),
    (re.compile(r"amazon\.nova-", re.I), "tool"),
    (re.compile(r"mistral\.mistral-large", re.I), "any"),
)


# Bedrock models with native structured output (Converse `outputConfig.textFormat`, GA in
# February 2026): Claude Sonnet / Haiku / Opus 4.5 and later.
_NATIVE = re.compile(r"anthropic\.claude-(sonnet|haiku|opus)-(4-[5-9]|[5-9])", re.I)


def bedrock_mode(model: str) -> Literal["native", "tool", "any"] | None:
    """How a Bedrock model gives structured output: natively, through a forced tool (and
    which toolChoice form), or not at all (None)."""
    return "native" if _NATIVE.search(model) else bedrock_forcing(model)


def bedrock_forcing(model: str) -> Literal["tool", "any"] | None:
    """How to force the answer's tool on this Bedrock model (id, profile id or ARN), or None
    when it cannot be forced, i.e. the model cannot give structured output."""
    return next((form for pattern, form in _FORCED_TOOL_CHOICE if pattern.search(model)), None)


def unsupported_reason(provider: str, model: str, request_has_tools: bool, shown: str | None = None) -> str | None:
    """Why this model cannot answer in JSON here (a sentence naming it as `shown`), or None."""
    if provider != "bedrock":
        return None  # Ollama constrains any model's output with a grammar
    shown = shown or model
    mode = bedrock_mode(model)
    if mode is None:
        return (f"The model '{shown}' cannot give structured output (JSON): on Bedrock it needs a model that "
                "can be made to call a tool (Anthropic Claude 3 or later, Amazon Nova, Mistral Large).")
    if request_has_tools and mode != "native":
        return (f"The model '{shown}' cannot combine tools with structured output: on Bedrock the JSON answer is "
                "itself a forced tool call. Send the request without tools, or without a response format.")
    return None


def format_refusal(provider: str, model: str, request: ChatRequest) -> str | None:
    """Why this model cannot give the answer `request.response_format` asks for (a
    sentence), or None: a model that cannot (unsupported_reason), or a Bedrock model
    given a schema whose root is not an object (a tool's input is one)."""
    fmt = request.response_format
    if fmt is None:
        return None
    reason = unsupported_reason(provider, model, bool(request.tools))
    if reason is None and provider == "bedrock" and fmt.schema is not None and fmt.schema.get("type") != "object":
        reason = f"The model '{model}' can only give a JSON object: its schema's root must be an object."
    return reason


def schema_problem(schema: Any) -> str | None:
    """What makes `schema` not a JSON schema (draft 2020-12 unless `$schema` says), or None."""
    if not isinstance(schema, dict):
        return "a JSON schema must be a JSON object"
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema, default=validators.Draft202012Validator).check_schema(schema)
    except exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"not a valid JSON schema{f' at {where!r}' if where else ''}: {exc.message}"
    except RecursionError:
        return "the schema is nested too deeply to check"
    return _ref_problem(schema, schema) or _unfollowable(schema)


# Keywords that apply a subschema to the value itself, not to a part of it: a loop of
# these (and `$ref`s) never reaches a base case, whatever the value.
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE = ("not", "if", "then", "else")


def _unfollowable(schema: dict[str, Any]) -> str | None:
    """A `$ref` that the validator cannot resolve (a relative reference to another document,
    an anchor or a pointer that is not there, also under a nested `$id`), or references
    that loop back to their start without going into the value (`{"$ref": "#/properties/a"}`
    at properties/a): either would fail the strict check of every answer, as a 5xx."""
    from referencing import Registry, Resource, exceptions
    from referencing.jsonschema import DRAFT202012, specification_with

    spec = specification_with(str(schema["$schema"]), default=DRAFT202012) if "$schema" in schema else DRAFT202012
    root = spec.create_resource(schema)
    nodes: dict[int, tuple[dict[str, Any], Any]] = {}  # id -> (subschema, its resolver)
    refs: dict[int, dict[str, Any]] = {}  # id of a subschema with a $ref -> what it points to
    pending: list[tuple[Resource[Any], Any]] = [
        (root, Registry().with_resource(root.id() or "", root).resolver(base_uri=root.id() or ""))]
    try:
        while pending:
            resource, resolver = pending.pop()
            contents = resource.contents
            if isinstance(contents, dict):
                nodes[id(contents)] = (contents, resolver)
                ref = contents.get("$ref")
                if isinstance(ref, str):
                    try:
                        target = resolver.lookup(ref).contents
                    except exceptions.Unresolvable:
                        return (f"$ref {ref!r} cannot be resolved in the schema (another document is never "
                                "fetched: put it under $defs)")
                    if isinstance(target, dict):
                        refs[id(contents)] = target
            pending.extend((sub, resolver.in_subresource(sub)) for sub in resource.subresources())
    except (RecursionError, exceptions.Unresolvable, ValueError, TypeError):
        return "the schema's references cannot be followed"

    def in_place(node: dict[str, Any]) -> list[dict[str, Any]]:
        found = [refs[id(node)]] if id(node) in refs else []
        found += [sub for key in _IN_PLACE_LISTS if isinstance(node.get(key), list) for sub in node[key]
                  if isinstance(sub, dict)]
        return found + [node[key] for key in _IN_PLACE if isinstance(node.get(key), dict)]

    state: dict[int, int] = {}  # 1: on the current path, 2: done
    for start, _ in nodes.values():
        if id(start) in state:
            continue
        stack = [(start, iter(in_place(start)))]
        state[id(start)] = 1
        while stack:
            node, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                state[id(node)] = 2
                stack.pop()
            elif state.get(id(step)) == 1:
                return "the schema's references loop back without going into the value, so it cannot be checked"
            elif id(step) not in state:
                state[id(step)] = 1
                stack.append((step, iter(in_place(step))))
    return None


def _ref_problem(node: Any, root: dict[str, Any]) -> str | None:
    """A `$ref` no provider can follow: another document (never fetched), or a JSON
    pointer into this one that leads nowhere."""
    if isinstance(node, list):
        return next((p for p in (_ref_problem(n, root) for n in node) if p), None)
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and re.match(r"[a-z][a-z0-9+.-]*:", ref, re.I):
        return f"$ref {ref!r} points to another document, which is not fetched: put it under $defs"
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, (dict, bool)):
            return f"$ref {ref!r} points to nothing in the schema"
    return next((p for p in (_ref_problem(v, root) for k, v in node.items() if k != "$ref") if p), None)


def mismatch(text: str, fmt: ResponseFormat) -> str | None:
    """Why a finished answer is not what `fmt` asked for, or None when it is."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"it is not JSON ({exc})"
    if fmt.kind == "json" or fmt.schema is None:
        return None
    from jsonschema import validators

    validator = validators.validator_for(fmt.schema, default=validators.Draft202012Validator)(fmt.schema)
    try:
        error = next(iter(validator.iter_errors(value)), None)
    except RecursionError:  # a schema whose references loop (`{"$ref": "#"}`)
        return "the schema's references loop, so no answer can be checked against it"
    except Exception as exc:  # a reference to nowhere, or to another document: not fetched
        return f"the schema cannot be checked ({type(exc).__name__}: {exc})"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the root"
    return f"at {where}, {error.message}"


class OutputMismatch(ProviderError):
    """The model's finished answer does not match the strict schema it was given."""

    code = "invalid_model_output"
    user_message = ("The model's answer does not match the requested JSON schema. Try again, or simplify the "
                    "schema.")


class StrictOutput:
    """A provider whose answers are checked against the request's schema when it is strict.

    Checked when the answer ended by itself (`end_turn`): one cut short by `max_tokens` is
    passed on as it is, its finish reason telling the client why it is incomplete."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.name: str = provider.name

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        fmt = request.response_format
        text: list[str] = []
        events = self.provider.stream_chat(request)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, Finish) and fmt is not None and fmt.strict and event.stop_reason == "end_turn":
                    problem = mismatch("".join(text), fmt)
                    if problem is not None:
                        raise OutputMismatch(f"strict response_format {fmt.name!r}: {problem}",
                                             partial_text="".join(text), provider=self.name,
                                             message=f"The model's answer does not match the JSON schema "
                                                     f"'{fmt.name}': {problem}.")
                yield event
        finally:
            await events.aclose()

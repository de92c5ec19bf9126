"""Request bodies of the Ollama API, and the small conversions they need.

Parsing is as lenient as Ollama's (unknown fields are ignored) but wrong types are a 400.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class BadRequest(Exception):
    """A client error: answered with HTTP 400 and `{"error": message}`."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = ""
    name: str = ""  # older clients send `name` instead of `model`

    @property
    def model_name(self) -> str:
        return self.model or self.name


class Options(BaseModel):
    """The sampling options this server honours; the others Ollama knows are accepted and
    ignored, as Ollama itself ignores options a runner does not use."""

    model_config = ConfigDict(extra="ignore")

    temperature: float | None = None
    top_p: float | None = None
    num_predict: int | None = None
    stop: list[str] | str | None = None
    seed: int | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | None = ""
    images: list[str] | None = None
    thinking: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_name: str | None = None


class _Generation(_Body):
    stream: bool = True
    options: Options = Field(default_factory=Options)
    keep_alive: str | float | None = None
    format: Any = None
    think: bool | str | None = None


class ChatBody(_Generation):
    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None


class GenerateBody(_Generation):
    prompt: str = ""
    system: str | None = None
    suffix: str | None = None
    template: str | None = None
    raw: bool = False
    images: list[str] | None = None
    context: list[int] | None = None


class EmbedBody(_Body):
    input: Any = None  # str | list[str]: checked by `embed_inputs`, for Ollama's message
    truncate: bool | None = None  # None: true
    dimensions: int | None = None
    options: Options = Field(default_factory=Options)
    keep_alive: str | float | None = None


class EmbeddingsBody(_Body):
    """The legacy `/api/embeddings`: one prompt."""

    prompt: str = ""
    options: Options = Field(default_factory=Options)
    keep_alive: str | float | None = None


def embed_inputs(value: Any) -> list[str]:
    """`/api/embed`'s `input` as a list; an empty string is no input (a load request)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise BadRequest("invalid input type")


class ModelBody(_Body):
    verbose: bool = False


class PullBody(_Body):
    stream: bool = True
    insecure: bool = False


def parse(body: bytes, kind: type[_Body]) -> Any:
    if not body.strip():
        raise BadRequest("missing request body")
    try:
        parsed = kind.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise BadRequest(str(first["msg"])) from None
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequest(f"invalid value for {where}: {first['msg']}") from None
    if not parsed.model_name:
        raise BadRequest("model is required")
    return parsed


def output_format(value: Any) -> str | dict[str, Any] | None:
    """Ollama's `format`: "json", a JSON schema (checked against its metaschema), or
    nothing (absent, null or ""). Anything else is a 400 in Ollama's words."""
    if value is None or value == "":
        return None
    if value == "json":
        return "json"
    if not isinstance(value, dict):
        raise BadRequest(f"invalid format: {json.dumps(value)[:100]}; expected \"json\" or a valid JSON Schema object")
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(value, default=validators.Draft202012Validator).check_schema(value)
    except exceptions.SchemaError as exc:
        raise BadRequest(f"invalid JSON schema in format: {exc.message}") from None
    except RecursionError:
        raise BadRequest("invalid JSON schema in format: nested too deeply") from None
    return value


def sampling(options: Options) -> dict[str, Any]:
    """Ollama options → engine keyword arguments, with Ollama's defaults."""
    stop = options.stop
    return {
        # num_predict: -1 (default) is unlimited, -2 "fill the context": both up to n_ctx.
        "max_tokens": options.num_predict if options.num_predict and options.num_predict > 0 else None,
        "temperature": 0.8 if options.temperature is None else options.temperature,
        "top_p": 0.9 if options.top_p is None else options.top_p,
        "stop": [stop] if isinstance(stop, str) else list(stop or []),
        "seed": options.seed if options.seed is not None and options.seed >= 0 else None,
    }


_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def keep_alive_seconds(value: str | float | None, default: float | None) -> float | None:
    """Ollama's keep_alive: a number of seconds or a Go duration ("5m", "1h30m");
    negative means forever (None)."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text.replace("+", ""):
                raise BadRequest(f'time: invalid duration "{value}"') from None
            seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    return None if seconds < 0 else seconds


def rfc3339(ts: float | None = None) -> str:
    """An RFC 3339 UTC timestamp as Ollama writes it (`...Z`)."""
    moment = datetime.now(timezone.utc) if ts is None else datetime.fromtimestamp(ts, timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def ndjson(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()

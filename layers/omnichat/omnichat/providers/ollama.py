"""The Ollama provider: OmniChat's streaming interface over Ollama's HTTP API.

Talks to `Settings.ollama_host` with one `httpx.AsyncClient` (created on first use, never at
import). `stream_chat` reads `/api/chat`'s NDJSON: `message.content` → `TextDelta`,
`message.thinking` → `ReasoningDelta`, `message.tool_calls` → `ToolUseDelta`, and the
`done` line → `Finish`. Every failure is a typed `ProviderError` carrying the text streamed
before it: refused or lost connections are `ProviderUnavailable`, silence beyond the read
timeout is `ProviderTimeout`, HTTP statuses and `{"error"}` lines map as in `_error_for`.
Their `detail` keeps the host and Ollama's own words for the logs; users see `message`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import re
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx

from ..config import Settings, get_settings
from .errors import (
    AccessDenied,
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    Throttled,
)
from .types import (
    ChatRequest,
    Finish,
    ImageBlock,
    Message,
    ModelInfo,
    ReasoningDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseDelta,
    Usage,
)

PROVIDER: Final = "ollama"
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "load": "end_turn", "unload": "end_turn"}
NO_SUCH_MODEL_TO_PULL = "There is no model of this name to pull: check its name and tag in the Ollama library."
NO_EMBEDDINGS = "This model's server cannot make embeddings: choose another embedding model."
_CONTEXT_TOO_LONG = re.compile(
    r"context (length|window|size)|exceeds? the (context|maximum)|input (is )?too long|prompt is too long", re.I
)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one costs milliseconds of CPU (it loads the CA
    bundle), and a client is made per event loop, i.e. per Lambda invocation."""
    return ssl.create_default_context()


# Encoder architectures: Ollama serves them for /api/embed only (all-minilm, nomic-embed-text,
# mxbai-embed-large, bge-m3...). /api/tags says only the family; /api/show would cost a call each.
ENCODER_FAMILIES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "xlm-roberta", "roberta"})

class OllamaProvider:
    name = PROVIDER

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        host: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.host = (host or self.settings.ollama_host).rstrip("/")
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # ---- the HTTP client -----------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        """The shared client, made anew when called from another event loop (a Lambda
        handler may run each invocation under its own `asyncio.run`)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._client_loop is not loop:
            s = self.settings
            self._client = httpx.AsyncClient(
                base_url=self.host,
                timeout=httpx.Timeout(
                    s.provider_read_timeout_s,
                    connect=s.provider_connect_timeout_s,
                    pool=s.provider_connect_timeout_s,
                ),
                # Retries only connection failures, before any byte is sent: always safe.
                # Plain http (the in-VPC service) needs no CA bundle: loading it is ~20 ms of a
                # cold start.
                transport=self._transport or httpx.AsyncHTTPTransport(
                    retries=max(0, s.provider_max_attempts - 1),
                    verify=_ssl_context() if self.host.startswith("https:") else False),
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> OllamaProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- chat ----------------------------------------------------------------------------
    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Deltas, then one `Finish`. A caller that stops early should close the iterator
        (`contextlib.aclosing`) so the HTTP stream, and Ollama's generation, end at once."""
        started = time.perf_counter()
        first_at: float | None = None
        text: list[str] = []  # what the model said so far: the partial text of any error
        tool_calls = 0
        try:
            async with self._http().stream("POST", "/api/chat", json=chat_body(request)) as response:
                await _raise_for_status(response)
                async for line in _ndjson(response):
                    if "error" in line:
                        raise _error_for(None, str(line["error"]))
                    message = line.get("message") or {}
                    if not isinstance(message, dict):
                        raise ProviderError(f"unexpected message from Ollama: {message!r:.200}")
                    events: list[StreamEvent] = []
                    if message.get("thinking"):
                        events.append(ReasoningDelta(str(message["thinking"])))
                    if message.get("content"):
                        events.append(TextDelta(str(message["content"])))
                    for call in message.get("tool_calls") or []:
                        events.append(_tool_delta(tool_calls, call))
                        tool_calls += 1
                    for event in events:
                        first_at = first_at or time.perf_counter()
                        if isinstance(event, TextDelta):
                            text.append(event.text)
                        yield event
                    if line.get("done"):
                        now = time.perf_counter()
                        done_reason = line.get("done_reason") or "stop"
                        reason = "tool_use" if tool_calls else _STOP_REASONS.get(done_reason, "end_turn")
                        yield Finish(
                            stop_reason=reason,
                            usage=Usage(
                                input_tokens=int(line.get("prompt_eval_count") or 0),
                                output_tokens=int(line.get("eval_count") or 0),
                            ),
                            ttft_ms=None if first_at is None else (first_at - started) * 1000,
                            duration_ms=(now - started) * 1000,
                        )
                        return
            raise ProviderUnavailable("Ollama ended the stream before it was done")
        except ProviderError as exc:
            exc.provider = PROVIDER
            exc.with_partial("".join(text))
            raise
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.host).with_partial("".join(text)) from exc

    # ---- models --------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        data = await self._json("GET", "/api/tags")
        found = []
        for entry in data.get("models") or []:
            name = entry.get("name") or entry.get("model")
            if not name:
                continue
            details = dict(entry.get("details") or {})
            details.update({k: entry[k] for k in ("size", "digest", "modified_at") if k in entry})
            if details.get("family") in ENCODER_FAMILIES:  # embeds, cannot chat: kept out of chat pickers
                details["capabilities"] = ["embedding"]
            found.append(
                ModelInfo(id=f"{PROVIDER}/{name}", provider=PROVIDER, name=name, display_name=name, details=details)
            )
        return found

    async def show(self, name: str) -> dict[str, Any]:
        return dict(await self._json("POST", "/api/show", {"model": name}))

    async def pull(self, name: str) -> AsyncIterator[dict[str, Any]]:
        """Ollama's progress objects, ending with `{"status": "success"}`."""
        try:
            async with self._http().stream("POST", "/api/pull", json={"model": name, "stream": True}) as response:
                await _raise_for_status(response)
                async for line in _ndjson(response):
                    if "error" in line:
                        message = str(line["error"])
                        if "file does not exist" in message:  # Ollama's wording for "no such model"
                            raise ModelNotFound(f"model '{name}' not found: {message}", provider=PROVIDER,
                                                message=NO_SUCH_MODEL_TO_PULL)
                        raise _error_for(None, message)
                    yield line
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.host) from exc

    async def create(self, name: str, base: str, system: str | None = None,
                     parameters: dict[str, Any] | None = None) -> None:
        """Ollama's `/api/create`: `name` made from `base` with a system prompt and parameters.
        Ollama's reason for a refusal is kept in the message: the admin asked for this."""
        body: dict[str, Any] = {"model": name, "from": base, "stream": False}
        if system:
            body["system"] = system
        if parameters:
            body["parameters"] = parameters
        try:
            await self._json("POST", "/api/create", body)
        except (InvalidRequest, ModelNotFound) as exc:
            reason = re.sub(r"^Ollama \(\d+\): ", "", exc.detail)
            message = f"Ollama could not create {name}: {reason}"
            raise type(exc)(exc.detail, provider=PROVIDER, message=message) from None

    async def delete(self, name: str) -> None:
        await self._json("DELETE", "/api/delete", {"model": name})

    async def ps(self) -> list[dict[str, Any]]:
        data = await self._json("GET", "/api/ps")
        return list(data.get("models") or [])

    async def load(self, name: str, keep_alive: str | int | None = None) -> None:
        """Load a model into memory now: Ollama's empty generate request (`keep_alive`
        None: the server's default)."""
        body: dict[str, Any] = {"model": name}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        await self._json("POST", "/api/generate", body)

    async def version(self) -> str:
        data = await self._json("GET", "/api/version")
        return str(data.get("version", ""))

    # ---- embeddings ----------------------------------------------------------------------
    async def embed(self, model: str, inputs: list[str], *, dimensions: int | None = None,
                    keep_alive: str | int | None = None) -> tuple[list[list[float]], int]:
        """(one vector per input, input tokens) from `/api/embed`."""
        body: dict[str, Any] = {"model": model, "input": inputs}
        if dimensions is not None:
            body["dimensions"] = dimensions
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        try:
            data = await self._json("POST", "/api/embed", body)
        except ModelNotFound as exc:
            if re.search(r"model .* not found", exc.detail):
                raise
            raise InvalidRequest(f"Ollama at {self.host} does not serve /api/embed: {exc.detail}",
                                 provider=PROVIDER, message=NO_EMBEDDINGS) from None
        vectors = data.get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(inputs):
            raise ProviderError(f"unexpected embeddings from Ollama: {str(data)[:200]!r}", provider=PROVIDER)
        return vectors, int(data.get("prompt_eval_count") or 0)

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._http().request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.host) from exc
        if response.status_code >= 400:
            raise _error_for(response.status_code, _error_text(response.text))
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"malformed response from Ollama: {response.text[:200]!r}", provider=PROVIDER) from None


# ---- request body ------------------------------------------------------------------------
def chat_body(request: ChatRequest) -> dict[str, Any]:
    """The `/api/chat` body for a `ChatRequest`."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    tool_names: dict[str, str] = {}
    for message in request.messages:
        messages.extend(_messages(message, tool_names))
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.stop:
        options["stop"] = list(request.stop)
    options.update(request.extra.get("options") or {})
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True}
    if options:
        body["options"] = options
    if request.tools and request.tool_choice != "none":
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
            }
            for t in request.tools
        ]
    if request.reasoning_budget:
        body["think"] = True
    if request.keep_alive is not None:  # the admin's setting for this model
        body["keep_alive"] = request.keep_alive
    fmt = request.response_format
    if fmt is not None:  # Ollama constrains decoding: "json", or to the schema itself
        body["format"] = fmt.schema if fmt.kind == "json_schema" else "json"
    for key in ("keep_alive", "think"):
        if key in request.extra:
            body[key] = request.extra[key]
    return body


def _messages(message: Message, tool_names: dict[str, str]) -> list[dict[str, Any]]:
    """One OmniChat message as Ollama messages: tool results become `tool` messages."""
    out: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            name = tool_names.get(block.tool_use_id, "")
            out.append({"role": "tool", "content": block.content, "tool_name": name})
    text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
    images = [base64.b64encode(b.data).decode() for b in message.content if isinstance(b, ImageBlock)]
    calls = [b for b in message.content if isinstance(b, ToolUseBlock)]
    for call in calls:
        tool_names[call.id] = call.name
    if text or images or calls or not out:
        turn: dict[str, Any] = {"role": message.role, "content": text}
        if images:
            turn["images"] = images
        if calls:
            turn["tool_calls"] = [{"id": c.id, "function": {"name": c.name, "arguments": c.input}} for c in calls]
        out.append(turn)
    return out


def _tool_delta(index: int, call: dict[str, Any]) -> ToolUseDelta:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    return ToolUseDelta(
        index=index,
        id=str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
        name=str(function.get("name") or ""),
        input_json=arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
    )


# ---- responses and errors ----------------------------------------------------------------
async def _ndjson(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for raw in response.aiter_lines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            raise ProviderError(f"malformed NDJSON line from Ollama: {raw[:200]!r}", provider=PROVIDER) from None
        if not isinstance(line, dict):
            raise ProviderError(f"unexpected NDJSON line from Ollama: {raw[:200]!r}", provider=PROVIDER)
        yield line


async def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        await response.aread()
        raise _error_for(response.status_code, _error_text(response.text))


def _error_text(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "no error message"
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return body.strip()[:500]


def _error_for(status: int | None, message: str) -> ProviderError:
    """A typed error for an HTTP status (None: an `{"error"}` line inside a 200 stream)."""
    kind: type[ProviderError] = ProviderError
    if _CONTEXT_TOO_LONG.search(message):
        kind = ContextTooLong
    elif status == 404 or re.search(r"model .* not found", message):
        kind = ModelNotFound
    elif status == 429:
        kind = Throttled
    elif status in (502, 503):
        kind = ProviderUnavailable
    elif status in (408, 504):
        kind = ProviderTimeout
    elif status in (401, 403):
        kind = AccessDenied
    elif status is not None and 400 <= status < 500:
        kind = InvalidRequest
    return kind(f"Ollama: {message}" if status is None else f"Ollama ({status}): {message}", provider=PROVIDER)


def _transport_error(exc: httpx.HTTPError, host: str) -> ProviderError:
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return ProviderTimeout(f"Ollama at {host} did not answer in time ({type(exc).__name__})", provider=PROVIDER)
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return ProviderUnavailable(f"cannot reach Ollama at {host}: {exc}", provider=PROVIDER)
    if isinstance(exc, httpx.TransportError):  # reset, closed mid-body, protocol error
        return ProviderUnavailable(f"lost the connection to Ollama at {host}: {exc}", provider=PROVIDER)
    return ProviderError(f"Ollama request failed: {exc}", provider=PROVIDER)

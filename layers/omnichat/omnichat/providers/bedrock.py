"""Amazon Bedrock through the Converse / ConverseStream API, called over HTTPS with our own
SigV4 client (`omnichat.aws`), not boto3: creating a boto3 `bedrock-runtime` client costs
about 200 ms and 45 MB, which the first chat of every cold-started function paid.

`POST /model/{modelId}/converse-stream` takes the Converse request as JSON and answers with
an AWS event stream, decoded (checksums verified) by botocore's own decoder, which costs a
few milliseconds to import where a client costs 200. The stream is read on a worker thread
that feeds an asyncio queue; the event loop never blocks on the network. Throttled and
failed calls are retried (botocore's standard mode, aws/retry.py; `provider_max_attempts`
in all) until the stream's first token, never after, and a read that timed out is not
retried (the person waited a whole `provider_read_timeout_s` already). Errors come back typed (errors.py),
keeping the text already streamed; Bedrock's own words (exception names, ARNs) stay in
their `detail`, for the logs only.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from ..aws.client import AwsError, AwsHttpClient, endpoint_for
from ..config import Settings, get_settings
from . import structured
from .bedrock_cache import add_cache_points
from .errors import (
    AccessDenied,
    ContextTooLong,
    InvalidRequest,
    ModelNotEnabled,
    ModelNotFound,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    Throttled,
)
from .types import (
    ChatRequest,
    ContentBlock,
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

if TYPE_CHECKING:
    from ..aws.client import Streamed
    from ..aws.retry import Attempts

PROVIDER = "bedrock"
RUNTIME, CONTROL = "bedrock-runtime", "bedrock"  # endpoint prefixes; both sign as "bedrock"
# With extended thinking, Anthropic counts thinking inside maxTokens and requires
# maxTokens > budget_tokens; this is the room left for the answer when none is given.
THINKING_ANSWER_TOKENS = 4096

_CONTEXT_TOO_LONG = re.compile(
    r"input is too long|prompt is too long|too many (input )?tokens|maximum context length"
    r"|context (window|length)|input token count",
    re.IGNORECASE,
)


# ---- request: omnichat types -> Converse parameters ---------------------------------------
def _block(block: ContentBlock) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        # Bedrock rejects blank text blocks (e.g. an assistant turn that produced nothing).
        return {"text": block.text} if block.text.strip() else None
    if isinstance(block, ImageBlock):
        return {"image": {"format": block.format, "source": {"bytes": block.data}}}
    if isinstance(block, ToolUseBlock):
        return {"toolUse": {"toolUseId": block.id, "name": block.name, "input": block.input}}
    if isinstance(block, ToolResultBlock):
        return {"toolResult": {
            "toolUseId": block.tool_use_id,
            "content": [{"text": block.content}] if block.content else [],
            "status": "error" if block.is_error else "success",
        }}
    raise InvalidRequest(f"unsupported content block {type(block).__name__}", provider=PROVIDER)


def converse_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Bedrock messages: blank blocks dropped, consecutive same-role turns merged (Bedrock
    requires user/assistant alternation), tool results first in their turn (Anthropic
    requires them ahead of any text)."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        content = [b for b in map(_block, message.content) if b is not None]
        if not content:
            continue
        if merged and merged[-1]["role"] == message.role:
            merged[-1]["content"].extend(content)
        else:
            merged.append({"role": message.role, "content": content})
    for turn in merged:
        turn["content"].sort(key=lambda b: "toolResult" not in b)  # stable
    return merged


def converse_params(request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments for `converse_stream` (and `converse`)."""
    params: dict[str, Any] = {
        "modelId": request.model,
        "messages": converse_messages(request.messages),
    }
    if request.system and request.system.strip():
        params["system"] = [{"text": request.system}]

    inference: dict[str, Any] = {}
    additional: dict[str, Any] = {}
    max_tokens = request.max_tokens
    # Anthropic refuses thinking with a forced tool choice, which structured output may be.
    if request.reasoning_budget and _answer_tool(request) is None:
        budget = request.reasoning_budget
        additional["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if max_tokens is None or max_tokens <= budget:
            max_tokens = budget + (max_tokens or THINKING_ANSWER_TOKENS)
    else:  # thinking requires the default temperature / top_p, so only send them without
        if request.temperature is not None:
            inference["temperature"] = request.temperature
        if request.top_p is not None:
            inference["topP"] = request.top_p
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    if inference:
        params["inferenceConfig"] = inference
    additional.update(request.extra)
    if additional:
        params["additionalModelRequestFields"] = additional

    tool_config = _structured_output(request, params) or _tool_config(request, params["messages"])
    if tool_config:
        params["toolConfig"] = tool_config
    add_cache_points(params)  # after the tools: a checkpoint may end them
    return params


def _answer_tool(request: ChatRequest) -> str | None:
    """The tool whose input is the answer, for structured output without native support."""
    fmt = request.response_format
    return fmt.name if fmt is not None and structured.bedrock_mode(request.model) != "native" else None


def _structured_output(request: ChatRequest, params: dict[str, Any]) -> dict[str, Any] | None:
    """Structured output: natively (`outputConfig`, the answer is the text, the request's
    tools stay), else the toolConfig of one tool whose input schema is the answer's, the
    model forced to call it (structured.py says which models can be)."""
    fmt = request.response_format
    if fmt is None:
        return None
    reason = structured.unsupported_reason(PROVIDER, request.model, bool(request.tools))
    if reason is None and fmt.schema is not None and fmt.schema.get("type") != "object":
        reason = f"The model '{request.model}' can only give a JSON object: its schema's root must be an object."
    if reason is not None:
        raise InvalidRequest(f"structured output on {request.model}: {reason}", message=reason, provider=PROVIDER)
    mode = structured.bedrock_mode(request.model)
    if mode == "native":  # Converse takes the schema as a JSON string
        params["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": json.dumps(fmt.schema or structured.ANY_OBJECT), "name": fmt.name}}}}
        return None
    spec = {"name": fmt.name, "description": "Give your whole answer as this tool's input, matching its schema.",
            "inputSchema": {"json": fmt.schema or structured.ANY_OBJECT}}
    choice = {"tool": {"name": fmt.name}} if mode == "tool" else {"any": {}}
    return {"tools": [{"toolSpec": spec}], "toolChoice": choice}


def _tool_config(request: ChatRequest, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not request.tools:
        return None
    uses_tools = any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])
    # Converse has no "none" choice; leaving the tools out is the closest, but a history
    # with tool blocks is only accepted with toolConfig present, so keep them then.
    if request.tool_choice == "none" and not uses_tools:
        return None
    config: dict[str, Any] = {"tools": [
        {"toolSpec": {"name": t.name, "description": t.description or t.name,
                      "inputSchema": {"json": t.input_schema}}}
        for t in request.tools
    ]}
    if request.tool_choice == "any":
        config["toolChoice"] = {"any": {}}
    elif request.tool_choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif request.tool_choice not in (None, "none"):
        config["toolChoice"] = {"tool": {"name": request.tool_choice}}
    return config


# ---- errors --------------------------------------------------------------------------------
_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_DENIED = {"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException",
           "InvalidSignatureException", "MissingAuthenticationTokenException",
           "IncompleteSignatureException"}
_UNAVAILABLE = {"ServiceUnavailableException", "ModelNotReadyException", "InternalServerException"}
# AccessDeniedException also says "this account has not enabled the model": third-party models
# are enabled on first use (AWS Marketplace subscription), Anthropic's after a one-time form.
_NOT_ENABLED = re.compile(r"marketplace|subscri|use case|have access to the model|legacy", re.IGNORECASE)
_NOT_ENABLED_HINTS = (
    (re.compile(r"use case", re.IGNORECASE),
     "This model is not enabled in this AWS account: Anthropic asks for a one-time use-case form. Ask an "
     "administrator to submit it in the Amazon Bedrock console; the model works about 15 minutes later."),
    (re.compile(r"legacy", re.IGNORECASE),
     "This model is a legacy model that this AWS account can no longer use: choose a newer model, or ask an "
     "administrator to replace it."),
)
_INVALID_MODEL = re.compile(r"model identifier is invalid", re.IGNORECASE)
_PROFILE_ONLY = re.compile(r"on-demand throughput isn.t supported", re.IGNORECASE)
PROFILE_ONLY_MESSAGE = ("This model can only be called through a cross-region inference profile: choose its "
                        "profile (an id starting with us., eu. or apac.), or ask an administrator to offer it.")


def _access_error(message: str) -> tuple[type[ProviderError], str | None]:
    """Not enabled (an administrator's one-time action), or refused credentials / IAM."""
    if not _NOT_ENABLED.search(message):
        return AccessDenied, None
    return ModelNotEnabled, next((text for pattern, text in _NOT_ENABLED_HINTS if pattern.search(message)), None)


def map_error(exc: BaseException, partial_text: str = "") -> ProviderError:
    """A typed ProviderError for anything a call to Bedrock can raise."""
    if isinstance(exc, ProviderError):
        return exc.with_partial(partial_text or exc.partial_text)

    def typed(cls: type[ProviderError], detail: str, public: str | None = None) -> ProviderError:
        return cls(detail, message=public, partial_text=partial_text, provider=PROVIDER)

    if isinstance(exc, AwsError):  # an error answer, or an exception inside the stream
        code = exc.code[:1].upper() + exc.code[1:]  # in-stream codes are camelCase
        message = f"{code}: {exc.message}"
        if code in _THROTTLED:
            return typed(Throttled, message)
        if code == "ValidationException":
            if _PROFILE_ONLY.search(message):
                return typed(InvalidRequest, message, PROFILE_ONLY_MESSAGE)
            if _INVALID_MODEL.search(message):
                return typed(ModelNotFound, message)
            return typed(ContextTooLong if _CONTEXT_TOO_LONG.search(message) else InvalidRequest, message)
        if code == "ResourceNotFoundException":
            return typed(ModelNotFound, message)
        if code == "AccessDeniedException":
            kind, public = _access_error(exc.message)
            return typed(kind, message, public)
        if code in _DENIED:
            return typed(AccessDenied, message)
        if code == "ModelTimeoutException":
            return typed(ProviderTimeout, message)
        if code in _UNAVAILABLE:
            return typed(ProviderUnavailable, message)
        return typed(ProviderError, message)
    if isinstance(exc, TimeoutError):  # no byte within the read timeout, before or mid-stream
        return typed(ProviderTimeout, f"Bedrock did not answer in time: {exc or 'read timed out'}")
    from botocore.eventstream import ParserError

    if isinstance(exc, ParserError):  # a bad checksum or length
        return typed(ProviderError, f"Bedrock sent a corrupted event stream: {type(exc).__name__}: {exc}")
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return typed(ProviderUnavailable, f"Bedrock is unreachable: {type(exc).__name__}: {exc}")
    return typed(ProviderError, f"{type(exc).__name__}: {exc}")


# ---- the wire: Converse JSON out, event-stream messages back --------------------------------
def _blob(value: Any) -> str:
    """JSON has no bytes: blobs (image bytes) travel base64-encoded, as the SDKs send them."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot send {type(value).__name__} to Bedrock")


def model_path(model: str, action: str) -> str:
    return f"/model/{quote(model, safe='')}/{action}"  # ids and ARNs hold ':' and '/'


def converse_batches(answer: Streamed) -> Iterator[list[dict[str, Any]]]:
    """ConverseStream's events as `{event type: payload}`, the shape boto3 gives, in lists
    of those that came in one read (at full speed, dozens: the reader hands them on at
    once, not one by one); an exception message inside the stream is raised as the
    AwsError it names, after the events before it."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    for chunk in answer.chunks():
        buffer.add_data(chunk)
        batch: list[dict[str, Any]] = []
        for message in buffer:
            # botocore-stubs types EventStreamMessage.headers as int; botocore builds a dict.
            headers = cast("dict[str, Any]", message.headers)
            payload = json.loads(message.payload or b"{}")
            kind = headers.get(":message-type")
            if kind == "event":
                batch.append({headers.get(":event-type", ""): payload})
                continue
            if batch:
                yield batch
            if kind == "exception":
                raise AwsError(200, headers.get(":exception-type", ""),
                               str(payload.get("message") or payload.get("Message") or ""))
            raise AwsError(200, headers.get(":error-code", ""), headers.get(":error-message", ""))  # "error"
        if batch:
            yield batch


# ---- response: ConverseStream events -> omnichat stream events ---------------------------
class _StreamState:
    def __init__(self, started: float, answer_tool: str | None = None) -> None:
        self.started = started
        # Structured output: the forced tool whose input is the answer, streamed as text;
        # any text the model says before it is preamble, not the answer.
        self.answer_tool = answer_tool
        self.answer_blocks: set[int] = set()
        self.first_token_at: float | None = None
        self.text: list[str] = []
        self.tool_index: dict[int, int] = {}  # contentBlockIndex -> tool call number
        self.stop_reason: str | None = None
        self.usage = Usage()

    @property
    def partial_text(self) -> str:
        return "".join(self.text)

    def _token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def translate(self, event: dict[str, Any]) -> list[StreamEvent]:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool = start.get("start", {}).get("toolUse")
            if tool is None:
                return []
            if self.answer_tool is not None and tool.get("name") == self.answer_tool:
                self.answer_blocks.add(start["contentBlockIndex"])
                return []
            index = self.tool_index.setdefault(start["contentBlockIndex"], len(self.tool_index))
            self._token()
            return [ToolUseDelta(index=index, id=tool["toolUseId"], name=tool["name"])]
        if "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta", {})
            if block.get("contentBlockIndex") in self.answer_blocks and "toolUse" in delta:
                return self._answer_text(delta["toolUse"].get("input", ""))
            if "text" in delta and self.answer_tool is not None:
                return []
            if "text" in delta:
                self._token()
                self.text.append(delta["text"])
                return [TextDelta(delta["text"])]
            if "toolUse" in delta:
                index = self.tool_index.setdefault(block["contentBlockIndex"], len(self.tool_index))
                return [ToolUseDelta(index=index, input_json=delta["toolUse"].get("input", ""))]
            reasoning = delta.get("reasoningContent", {})
            if reasoning.get("text"):  # signatures and redacted content are not shown
                self._token()
                return [ReasoningDelta(reasoning["text"])]
            return []
        if "contentBlockStop" in event and event["contentBlockStop"].get("contentBlockIndex") in self.answer_blocks:
            return [] if self.text else self._answer_text("{}")  # a call with no input: an empty object
        if "messageStop" in event:
            self.stop_reason = event["messageStop"]["stopReason"]
            if self.answer_blocks and self.stop_reason == "tool_use":
                self.stop_reason = "end_turn"  # the answer is complete: it is not a tool call
        elif "metadata" in event:
            usage = event["metadata"].get("usage", {})
            self.usage = Usage(
                input_tokens=usage.get("inputTokens", 0),
                output_tokens=usage.get("outputTokens", 0),
                cache_read_tokens=usage.get("cacheReadInputTokens", 0),
                cache_write_tokens=usage.get("cacheWriteInputTokens", 0),
            )
        return []

    def _answer_text(self, text: str) -> list[StreamEvent]:
        if not text:
            return []
        self._token()
        self.text.append(text)
        return [TextDelta(text)]

    def finish(self) -> Finish:
        if self.stop_reason is None:
            raise ProviderError("Bedrock's stream ended before messageStop",
                                partial_text=self.partial_text, provider=PROVIDER)
        now = time.perf_counter()
        ttft = None if self.first_token_at is None else (self.first_token_at - self.started) * 1000
        return Finish(self.stop_reason, self.usage, ttft, (now - self.started) * 1000)


_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class BedrockProvider:
    name = PROVIDER

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._clients: dict[str, AwsHttpClient] = {}
        self._lock = threading.Lock()

    def client(self, service: str = RUNTIME) -> AwsHttpClient:
        """The client for `bedrock-runtime` or `bedrock` (the control plane), made on first
        use: an endpoint from the settings, else `AWS_ENDPOINT_URL_BEDROCK[_RUNTIME]`, else AWS's."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                s = self.settings
                configured = s.bedrock_runtime_endpoint if service == RUNTIME else s.bedrock_endpoint
                endpoint = configured or endpoint_for(service.replace("-", "_"), service, s.aws_region)
                client = AwsHttpClient(endpoint, "bedrock", s.aws_region, connect_timeout=s.provider_connect_timeout_s,
                                       read_timeout=s.provider_read_timeout_s, attempts=s.provider_max_attempts)
                self._clients[service] = client
            return client

    def open_converse_stream(self, params: dict[str, Any], attempts: Attempts | None = None) -> Streamed:
        """Sends ConverseStream; the answer's body is the event stream (blocking)."""
        body = {k: v for k, v in params.items() if k != "modelId"}
        return self.client().stream(
            "POST", model_path(params["modelId"], "converse-stream"), json.dumps(body, default=_blob).encode(),
            {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"}, attempts)

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        params = converse_params(request)
        state = _StreamState(started, _answer_tool(request))
        stop = threading.Event()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        answers: list[Streamed] = []
        # A model that sent nothing for a whole read timeout is not asked again: the person
        # would wait that long once per attempt. The answer ends with `timeout`, and a
        # fallback chain moves on (as with Ollama, whose client retries only connecting).
        tries = self.client().retry.start(retry_timeouts=False)
        self._start_pump(lambda attempts: self.open_converse_stream(params, attempts), tries, queue, stop, answers)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, _Failure):
                    raise map_error(item.exc, state.partial_text) from item.exc
                for raw in item:
                    for event in state.translate(raw):
                        yield event
            yield state.finish()
        finally:
            stop.set()
            if answers:  # closing the socket unblocks a worker waiting on a read
                answers[0].close()

    @staticmethod
    def _start_pump(open_answer: Callable[[Attempts], Streamed], attempts: Attempts, queue: asyncio.Queue[Any],
                    stop: threading.Event, answers: list[Streamed]) -> None:
        """Read the blocking event stream on a daemon thread, handing events to `queue`. A
        failure inside the stream before anything but `messageStart` (nothing shown yet)
        is retried as a failed request is: a throttle Bedrock reports in the stream."""
        loop = asyncio.get_running_loop()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody to tell
                stop.set()

        def read(answer: Streamed) -> bool:
            """Relays the answer's events; False if it failed in time to be tried again."""
            started = False
            try:
                for batch in converse_batches(answer):
                    if stop.is_set():
                        break
                    started = started or any("messageStart" not in event for event in batch)
                    put(batch)
            except Exception as exc:
                if started or stop.is_set() or not _retry_in_stream(exc, attempts):
                    raise
                answer.close()
                return False
            return True

        def pump() -> None:
            try:
                answers[:] = [open_answer(attempts)]
                while not read(answers[0]) and not stop.is_set():
                    answers[:] = [open_answer(attempts)]
                answers[0].close()  # back to the pool before the caller hears the end
            except BaseException as exc:  # every failure is reported, typed, to the caller
                if not stop.is_set():
                    put(_Failure(exc))
            else:
                put(_END)
            finally:
                if answers:
                    answers[0].close()

        threading.Thread(target=pump, name="bedrock-converse-stream", daemon=True).start()

    async def embed(self, model: str, inputs: list[str], *, dimensions: int | None = None
                    ) -> tuple[list[list[float]], int]:
        """Vectors from an embedding model (Titan) through InvokeModel; a chat model is a
        400. The code lives in bedrock_embed.py, loaded on the first call."""
        from . import bedrock_embed

        return await bedrock_embed.embed(self.client(), model, inputs, dimensions)

    async def list_models(self) -> list[ModelInfo]:
        return await asyncio.to_thread(self._list_models)

    def _list_models(self) -> list[ModelInfo]:
        """Text models that stream: on-demand ones by model id, and every system-defined
        (cross-region) inference profile that reaches one (`us.`, `eu.`, `apac.`, `global.`
        ...), the only way to call a profile-only model and more throughput for the others."""
        control = self.client(CONTROL)
        try:
            summaries = json.loads(control.request("GET", "/foundation-models?byOutputModality=TEXT"))
            summaries = summaries.get("modelSummaries", [])
        except Exception as exc:
            raise map_error(exc) from exc
        try:
            profiles = _inference_profiles(control)
        except AwsError as exc:  # listing profiles may be denied where models are not
            if exc.code != "AccessDeniedException":
                raise map_error(exc) from exc
            profiles = []
        except Exception as exc:
            raise map_error(exc) from exc

        found: dict[str, ModelInfo] = {}
        text_models: dict[str, dict[str, Any]] = {}
        for m in summaries:
            if m.get("outputModalities") != ["TEXT"] or not m.get("responseStreamingSupported"):
                continue
            details = {
                "provider_name": m.get("providerName", ""),
                "input_modalities": m.get("inputModalities", []),
                "vision": "IMAGE" in m.get("inputModalities", []),
                "lifecycle": m.get("modelLifecycle", {}).get("status", ""),
                "model_id": m["modelId"],
            }
            text_models[m["modelId"]] = details
            if "ON_DEMAND" in m.get("inferenceTypesSupported", []):
                found[m["modelId"]] = ModelInfo(
                    id=f"bedrock/{m['modelId']}", provider="bedrock", name=m["modelId"],
                    display_name=m.get("modelName") or m["modelId"],
                    details={**details, "inference_profile": False},
                )
        for p in profiles:
            profile_id = p.get("inferenceProfileId", "")
            arns = [target.get("modelArn", "") for target in p.get("models", [])]
            model_id = next((a.rpartition("foundation-model/")[2] for a in arns
                             if a.rpartition("foundation-model/")[2] in text_models), None)
            if p.get("status", "ACTIVE") != "ACTIVE" or model_id is None or profile_id in found:
                continue
            found[profile_id] = ModelInfo(
                id=f"bedrock/{profile_id}", provider="bedrock", name=profile_id,
                display_name=p.get("inferenceProfileName") or profile_id,
                # The regions it may route to: what the IAM policy must allow the model in.
                details={**text_models[model_id], "inference_profile": True,
                         "routes_to": sorted({a.split(":")[3] for a in arns if a.count(":") >= 5} - {""})},
            )
        return sorted(found.values(), key=lambda info: info.id)


# The HTTP status each in-stream exception has as an error answer: what decides a retry.
_STREAM_EXCEPTION_STATUS = {"throttlingException": 429, "serviceUnavailableException": 503,
                            "internalServerException": 500, "modelStreamErrorException": 424,
                            "validationException": 400}


def _retry_in_stream(exc: Exception, attempts: Attempts) -> bool:
    if isinstance(exc, AwsError):
        status = _STREAM_EXCEPTION_STATUS.get(exc.code, exc.status)
        return attempts.retry(status, exc.code, None, exc.retry_after_ms)
    return attempts.retry(None, None, exc)  # the connection dropped before the first token


def _inference_profiles(control: AwsHttpClient) -> list[dict[str, Any]]:
    """Every system-defined inference profile, page after page."""
    profiles: list[dict[str, Any]] = []
    token = ""
    while True:
        query = "typeEquals=SYSTEM_DEFINED" + (f"&nextToken={quote(token, safe='')}" if token else "")
        page = json.loads(control.request("GET", f"/inference-profiles?{query}"))
        profiles += page.get("inferenceProfileSummaries", [])
        token = page.get("nextToken") or ""
        if not token:
            return profiles

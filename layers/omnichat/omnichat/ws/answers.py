"""Answering: everything between "this user message needs an answer" and the answer's
final save. Shared by chat.send, chat.edit and chat.regenerate."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any

from omnichat.billing import calls as billing
from omnichat.billing.reservations import CHARS_PER_TOKEN, Ask, BudgetExceeded, reserve, reserve_alone
from omnichat.catalog import catalog
from omnichat.chats import context, rows, service, titles, tree
from omnichat.chats.attachments import Scope, sources_of
from omnichat.chats.rows import ChatRow, MessageRow
from omnichat.db import lite
from omnichat.db.lite import Db
from omnichat.providers import fallback
from omnichat.providers.errors import ProviderError
from omnichat.streaming import control, frames
from omnichat.streaming.relay import Generation, Relay
from omnichat.usage import NOT_CALLED, CallRecord, record
from omnichat.ws.session import WsError, WsSession

log = logging.getLogger("omnichat.ws")


@dataclass
class Prepared:
    chat_id: str
    question_id: str
    answer_id: str
    model: catalog.ResolvedModel
    request: Any
    first_answer: bool  # the chat's first question: give the chat a title afterwards
    question: str
    reservation_id: str | None = None  # the answer's budget reservation (billing/reservations.py)
    scope: Scope | None = None  # the question's attachments and collections (documents/retrieval.py)
    documents_chars: int = 0  # the share of the context budget its sources may take


class VisionUnknown(Exception):
    """Images are in scope and whether the model reads them is not known yet: the caller
    learns it (documents/vision.py, outside the transaction) and runs the transaction again."""

    def __init__(self, provider: str, name: str) -> None:
        super().__init__(f"{provider}/{name}")
        self.provider, self.name = provider, name


async def learn_vision(s: WsSession, exc: VisionUnknown) -> None:
    from omnichat.documents import vision

    await vision.learn(s.settings, exc.provider, exc.name)


def check_vision(model: catalog.ResolvedModel, scope: Scope | None, **context: Any) -> None:
    """Refuse images for a model that cannot read them (`model_not_vision`)."""
    if not scope or not scope.image_ids:
        return
    from omnichat.documents import vision

    can = vision.known(model.provider, model.name)
    if can is None:
        raise VisionUnknown(model.provider, model.name)
    if not can:
        raise WsError("model_not_vision", f"{model.id} cannot read images: choose a model that can (a vision "
                      "model), or remove the image", **context)


def owned_chat(db: Db, s: WsSession, chat_id: str) -> ChatRow:
    chat = rows.get_chat(db, chat_id)
    if chat is None or chat.user_id != s.principal.user_id:
        raise WsError("chat_not_found", "No such chat", chat_id=chat_id)
    return chat


def owned_message(db: Db, chat: ChatRow, message_id: str) -> MessageRow:
    message = rows.get_message(db, message_id)
    if message is None or message.chat_id != chat.id:
        raise WsError("message_not_found", "No such message in this chat", chat_id=chat.id, message_id=message_id)
    return message


def resolve_model(db: Db, s: WsSession, chat: ChatRow | None, requested: str | None) -> catalog.ResolvedModel:
    model_id = requested or (chat.model if chat else None)
    if not model_id:
        raise WsError("invalid_request", "model: choose a model for this chat")
    try:
        return catalog.resolve(db, s.settings, s.principal, model_id)
    except catalog.ModelNotAvailable as exc:
        raise WsError("model_not_found", exc.message) from None


async def ensure_offered(s: WsSession, model_id: str) -> None:
    try:
        await catalog.ensure_offered(s.settings, model_id)
    except catalog.ModelNotAvailable as exc:
        raise WsError("model_not_found", exc.message) from None


def ensure_idle(db: Db, chat: ChatRow) -> None:
    """One answer streams in a chat at a time. The lock makes a concurrent start wait for
    this transaction and then see its stream."""
    db.lock("chat", chat.id)
    if control.live_stream(db, chat.id) is not None:
        raise WsError("already_streaming", "An answer is already streaming in this chat; stop it first",
                      chat_id=chat.id)


def start_answer(db: Db, s: WsSession, chat: ChatRow, question: MessageRow, model: catalog.ResolvedModel,
                 params: dict[str, Any], scope: Scope | None = None) -> Prepared:
    """Create the streaming assistant message and its stream row (committed by the
    caller before the model is called). With a `scope`, part of the context budget is
    kept for the question's sources, which are found after the commit (`stream_answer`)."""
    check_vision(model, scope, chat_id=chat.id)
    answer, _ = tree.append(db, chat, role="assistant", content="", parent_id=question.id, use_leaf=False,
                            model=model.id, status="streaming")
    control.begin(db, chat_id=chat.id, user_id=s.principal.user_id, message_id=answer.id,
                  connection_id=s.connection_id)
    if model.id != chat.model:  # the chat goes on with the model last asked for
        rows.set_model(db, chat.id, model.id)
        chat.model = model.id
    documents_chars = context.documents_share(context.context_chars(chat, params, model.settings.params)) \
        if scope else 0
    request = replace(context.build_request(db, chat, question, model.name, params, model.settings.params,
                                            model.system, documents_chars), keep_alive=model.settings.keep_alive)
    ask = billing.chat_ask(model, request)
    if scope:  # the sources and images are not in the request yet: reserve for them too
        extra = documents_chars + len(scope.image_ids) * billing.IMAGE_TOKENS * CHARS_PER_TOKEN
        ask = replace(ask, input_tokens=ask.input_tokens + math.ceil(extra / CHARS_PER_TOKEN))
    # Refused here, the whole transaction is: no question, no answer, no stream is left.
    reservation_id = reserve_or_refuse(db, s, ask, chat_id=chat.id)
    return Prepared(chat.id, question.id, answer.id, model, request,
                    first_answer=question.depth == 0 and chat.title == titles.DEFAULT_TITLE,
                    question=question.content, reservation_id=reservation_id, scope=scope or None,
                    documents_chars=documents_chars)


def reserve_or_refuse(db: Db, s: WsSession, ask: Ask, **context: Any) -> str | None:
    try:
        return reserve(db, s.principal.user_id, s.principal.api_key_id, ask)
    except BudgetExceeded as exc:
        raise WsError(exc.code or "budget_exceeded", exc.message, **context, **exc.details) from None


async def acknowledge_and_stream(s: WsSession, action: str, p: Prepared, created: bool = True) -> None:
    """Tell the client which messages its request made, then stream the answer."""
    await s.ack(action, chat_id=p.chat_id, user_message_id=p.question_id, assistant_message_id=p.answer_id,
                created=created)
    await stream_answer(s, p)


async def stream_answer(s: WsSession, p: Prepared) -> None:
    await s.send({"type": "message.started", "chat_id": p.chat_id, "message_id": p.answer_id,
                  "parent_id": p.question_id, "model": p.model.id})
    done_extra: dict[str, Any] | None = None
    if p.scope:
        found = await _documents(s, p)
        if found is None:
            return
        p.request = found[0]
        done_extra = {"sources": found[1]}
    provider = fallback.for_model(s.settings, p.model)  # the model, then its fallback chain
    relay = Relay(Generation(
        db_url=s.db_url, chat_id=p.chat_id, message_id=p.answer_id, user_id=s.principal.user_id,
        api_key_id=s.principal.api_key_id, model_id=p.model.id, provider_name=p.model.provider, provider=provider,
        request=p.request, sink=s.sink, subscribers={s.connection_id}, deadline=s.deadline, tuning=s.tuning,
        priced_model=billing.own_id(p.model), reservation_id=p.reservation_id, done_extra=done_extra,
    ))
    outcome = await relay.run()
    if p.first_answer and outcome.status == "complete":
        await name_chat(s, p, provider, relay.subscribers)


async def _documents(s: WsSession, p: Prepared) -> tuple[Any, list[dict[str, Any]]] | None:
    """The request with the question's sources and images, and the sources' JSON; None when
    the answer ended instead (documents not ready or failed, or they could not be searched)."""
    from omnichat.documents import retrieval

    assert p.scope is not None
    try:
        found = await retrieval.gather(s.settings, s.db_url, s.principal.user_id, p.answer_id, p.question, p.scope,
                                       p.documents_chars)
    except retrieval.Refused as exc:
        await _end_unanswered(s, p, exc.code, exc.message, files=exc.context.get("files"))
        return None
    except ProviderError as exc:
        exc.log(log, f"searching the documents of {p.answer_id}")
        await _end_unanswered(s, p, "documents_unavailable", f"The documents could not be searched: {exc.message}")
        return None
    return retrieval.apply(p.request, found), [source.json() for source in found.sources]


async def _end_unanswered(s: WsSession, p: Prepared, code: str, message: str, **context: Any) -> None:
    """End an answer before any model call: status `error` with `code`, no usage row (the
    reservation is released), and the `error` and `message.done` events."""
    assert code in NOT_CALLED
    error = {"code": code, "message": message}
    usage = {"input_tokens": 0, "output_tokens": 0, "ttft_ms": None, "duration_ms": 0.0}
    call = CallRecord(user_id=s.principal.user_id, api_key_id=s.principal.api_key_id, chat_id=p.chat_id,
                      message_id=p.answer_id, model=p.model.id, provider=p.model.provider, outcome="error",
                      error_code=code, reservation_id=p.reservation_id)
    subscribers = await asyncio.to_thread(control.finish, s.db_url, p.answer_id, status="error", content="",
                                          reasoning="", usage=usage, error=error, call=call)
    events = [frames.error(code, message, chat_id=p.chat_id, message_id=p.answer_id, **context),
              frames.done(p.chat_id, p.answer_id, "error", None, usage, error, model=p.model.id)]
    for connection_id in subscribers | {s.connection_id}:
        for event in events:
            try:
                await asyncio.to_thread(s.sink.post, connection_id, frames.encode(event))
            except Exception:
                log.info("%s not delivered to %s", event["type"], connection_id)


async def name_chat(s: WsSession, p: Prepared, provider: Any, subscribers: set[str]) -> None:
    started = time.monotonic()
    finish, outcome, code = None, "complete", None
    ask = billing.title_ask(p.model, titles.PROMPT + p.question[:2000], titles.MAX_TOKENS)
    try:  # a title is a model call too: within the budget, or the question's first words
        reservation_id = reserve_alone(s.db_url, s.principal.user_id, s.principal.api_key_id, ask)
    except BudgetExceeded:
        return await _save_title(s, p, subscribers, titles.fallback_title(p.question), None)
    try:
        title, finish = await titles.generate(provider, p.model.name, p.question, p.model.settings.keep_alive)
    except ProviderError as exc:
        exc.log(log, f"title of chat {p.chat_id}")
        title, outcome, code = titles.fallback_title(p.question), "error", exc.code
    model_id, provider_name = fallback.answered_by(provider, finish, p.model.id, p.model.provider)
    call = CallRecord(
        priced_model=billing.priced_by(provider, billing.own_id(p.model)), reservation_id=reservation_id,
        user_id=s.principal.user_id, model=model_id, provider=provider_name, outcome=outcome, source="title",
        chat_id=p.chat_id, input_tokens=finish.usage.input_tokens if finish else 0,
        output_tokens=finish.usage.output_tokens if finish else 0, ttft_ms=finish.ttft_ms if finish else None,
        cache_read_tokens=finish.usage.cache_read_tokens if finish else 0,
        cache_write_tokens=finish.usage.cache_write_tokens if finish else 0,
        duration_ms=(time.monotonic() - started) * 1000, error_code=code)
    await _save_title(s, p, subscribers, title, call)


async def _save_title(s: WsSession, p: Prepared, subscribers: set[str], title: str, call: CallRecord | None) -> None:
    def save(db: Db) -> str | None:
        if call is not None:
            record(db, call)  # even when the title is not kept: the model was called
        chat = rows.get_chat(db, p.chat_id)
        if chat is None or chat.title != titles.DEFAULT_TITLE:
            return None  # deleted, or renamed by the user meanwhile
        cleaned = service.clean_title(title)
        rows.set_title(db, chat.id, cleaned)
        return cleaned

    saved = lite.run(s.db_url, save)
    if saved is None:
        return
    event = frames.encode({"type": "chat.title", "chat_id": p.chat_id, "title": saved})
    for connection_id in subscribers or {s.connection_id}:
        try:
            s.sink.post(connection_id, event)
        except Exception:
            log.info("chat.title not delivered to %s", connection_id)


async def replay(s: WsSession, message: MessageRow) -> None:
    """An answer's state for a client that asks again: snapshot frames, then done."""
    for event in frames.snapshots(message.chat_id, message.id, message.content, message.reasoning or "",
                                  message.status):
        await s.send(event)
    if message.status != "streaming":
        done = frames.done(message.chat_id, message.id, message.status, None, message.usage, message.error,
                           model=message.model)
        sources = lite.run(s.db_url, lambda db: sources_of(db, message.id)) if message.role == "assistant" else []
        if sources:
            done["sources"] = [source.json() for source in sources]
        await s.send(done)

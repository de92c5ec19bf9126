"""Answering: everything between "this user message needs an answer" and the answer's
final save. Shared by chat.send, chat.edit and chat.regenerate."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from omnichat.catalog import catalog
from omnichat.chats import context, rows, service, titles, tree
from omnichat.chats.rows import ChatRow, MessageRow
from omnichat.db import lite
from omnichat.db.lite import Db
from omnichat.providers import registry
from omnichat.providers.errors import ProviderError
from omnichat.streaming import control, frames
from omnichat.streaming.relay import Generation, Relay
from omnichat.usage import CallRecord, record
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
                 params: dict[str, Any]) -> Prepared:
    """Create the streaming assistant message and its stream row (committed by the
    caller before the model is called)."""
    answer, _ = tree.append(db, chat, role="assistant", content="", parent_id=question.id, use_leaf=False,
                            model=model.id, status="streaming")
    control.begin(db, chat_id=chat.id, user_id=s.principal.user_id, message_id=answer.id,
                  connection_id=s.connection_id)
    if model.id != chat.model:  # the chat goes on with the model last asked for
        rows.set_model(db, chat.id, model.id)
        chat.model = model.id
    request = context.build_request(db, chat, question, model.name, params, model.settings.params)
    return Prepared(chat.id, question.id, answer.id, model, request,
                    first_answer=question.depth == 0 and chat.title == titles.DEFAULT_TITLE,
                    question=question.content)


async def acknowledge_and_stream(s: WsSession, action: str, p: Prepared, created: bool = True) -> None:
    """Tell the client which messages its request made, then stream the answer."""
    await s.ack(action, chat_id=p.chat_id, user_message_id=p.question_id, assistant_message_id=p.answer_id,
                created=created)
    await stream_answer(s, p)


async def stream_answer(s: WsSession, p: Prepared) -> None:
    await s.send({"type": "message.started", "chat_id": p.chat_id, "message_id": p.answer_id,
                  "parent_id": p.question_id, "model": p.model.id})
    provider = registry.get_provider(s.settings, p.model.provider)
    relay = Relay(Generation(
        db_url=s.db_url, chat_id=p.chat_id, message_id=p.answer_id, user_id=s.principal.user_id,
        api_key_id=s.principal.api_key_id, model_id=p.model.id, provider_name=p.model.provider, provider=provider,
        request=p.request, sink=s.sink, subscribers={s.connection_id}, deadline=s.deadline, tuning=s.tuning,
    ))
    outcome = await relay.run()
    if p.first_answer and outcome.status == "complete":
        await name_chat(s, p, provider, relay.subscribers)


async def name_chat(s: WsSession, p: Prepared, provider: Any, subscribers: set[str]) -> None:
    started = time.monotonic()
    finish, outcome, code = None, "complete", None
    try:
        title, finish = await titles.generate(provider, p.model.name, p.question)
    except ProviderError as exc:
        exc.log(log, f"title of chat {p.chat_id}")
        title, outcome, code = titles.fallback_title(p.question), "error", exc.code
    call = CallRecord(
        user_id=s.principal.user_id, model=p.model.id, provider=p.model.provider, outcome=outcome, source="title",
        chat_id=p.chat_id, input_tokens=finish.usage.input_tokens if finish else 0,
        output_tokens=finish.usage.output_tokens if finish else 0, ttft_ms=finish.ttft_ms if finish else None,
        duration_ms=(time.monotonic() - started) * 1000, error_code=code)

    def save(db: Db) -> str | None:
        chat = rows.get_chat(db, p.chat_id)
        if chat is None or chat.title != titles.DEFAULT_TITLE:
            return None  # deleted, or renamed by the user meanwhile
        cleaned = service.clean_title(title)
        rows.set_title(db, chat.id, cleaned)
        record(db, call)
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
        await s.send(frames.done(message.chat_id, message.id, message.status, None, message.usage, message.error))

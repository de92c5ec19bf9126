"""The protocol's actions. Each validates everything it can before it writes, commits the
user's message before any model call, then streams."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from datetime import timedelta

from omnichat.chats import service, tree
from omnichat.chats.rows import ChatRow, MessageRow, get_message
from omnichat.db import lite
from omnichat.db.lite import Db, utcnow
from omnichat.models import catalog, pulls
from omnichat.providers import registry
from omnichat.providers.errors import ProviderError
from omnichat.streaming import control
from omnichat.ws import answers, schemas
from omnichat.ws.answers import Prepared
from omnichat.ws.session import WsError, WsSession

PARTS_TTL = timedelta(minutes=10)
PULL_PROGRESS_EVERY_S = 0.25
PULL_POLL_S = 1.0  # how often a queued pull's row is read


async def ping(s: WsSession, frame: schemas.Ping) -> None:
    await s.send({"type": "pong", "request_id": s.request_id})


def _check_length(s: WsSession, content: str) -> None:
    if not content.strip():
        raise WsError("invalid_request", "content: a message cannot be empty")
    if len(content) > s.settings.max_message_chars:
        raise WsError("message_too_long", f"A message has at most {s.settings.max_message_chars} characters")


def _collect_part(s: WsSession, frame: schemas.Send) -> str | None:
    """Store one part of a multi-frame message; the whole content once all have arrived."""
    assert frame.part is not None
    part, user_id = frame.part, s.principal.user_id

    def work(db: Db) -> str | None:
        db.execute("DELETE FROM upload_parts WHERE created_at < ?", utcnow() - PARTS_TTL)
        db.insert("upload_parts", {"user_id": user_id, "client_message_id": frame.client_message_id,
                                   "part_index": part.index, "part_count": part.count, "content": frame.content,
                                   "created_at": utcnow()},
                  "ON CONFLICT (user_id, client_message_id, part_index) DO NOTHING")
        parts = db.execute("SELECT part_count, content FROM upload_parts WHERE user_id = ? AND client_message_id = ?"
                           " ORDER BY part_index", user_id, frame.client_message_id).fetchall()
        if len(parts) < part.count or part.index != part.count - 1:
            if sum(len(content) for _, content in parts) > s.settings.max_message_chars:
                raise WsError("message_too_long", f"A message has at most {s.settings.max_message_chars} characters")
            return None
        if any(count != part.count for count, _ in parts):
            raise WsError("invalid_request", "part.count differs between the parts of one message")
        db.execute("DELETE FROM upload_parts WHERE user_id = ? AND client_message_id = ?",
                   user_id, frame.client_message_id)
        return "".join(content for _, content in parts)

    return lite.run(s.db_url, work)


def _latest_answer(db: Db, question: MessageRow) -> MessageRow | None:
    return MessageRow.first(db, "WHERE parent_id = ? AND role = 'assistant' ORDER BY id DESC LIMIT 1", question.id)


async def send(s: WsSession, frame: schemas.Send) -> None:
    content = frame.content
    if frame.part is not None and frame.part.count > 1:
        whole = _collect_part(s, frame)
        if whole is None:
            await s.ack(frame.action, client_message_id=frame.client_message_id, part=asdict(frame.part))
            return
        content = whole
    _check_length(s, content)
    params = frame.params.given() if frame.params else {}

    def work(db: Db) -> tuple[ChatRow, MessageRow, MessageRow | None, Prepared | None]:
        """The question saved and its answer started, or, for a retried send whose question
        is already answered or answering, that answer."""
        chat = answers.owned_chat(db, s, frame.chat_id) if frame.chat_id else None
        existing = tree.find_by_client_id(db, chat, frame.client_message_id) if chat else None
        model = answers.resolve_model(db, s, chat, frame.model)
        if existing is not None:  # a retried send: answer what is already there
            answer = _latest_answer(db, existing)
            if answer is not None:
                assert chat is not None
                return chat, existing, answer, None
        if chat is None:
            chat = service.create(db, s.principal, model=model.id, system_prompt=frame.system_prompt, params=params)
        elif frame.system_prompt is not None and existing is None:
            service.update_chat(db, chat, {"system_prompt": frame.system_prompt})
        answers.ensure_idle(db, chat)
        question = existing
        if question is None:
            if frame.parent_id:
                answers.owned_message(db, chat, frame.parent_id)
            question, _ = tree.append(db, chat, role="user", content=content, parent_id=frame.parent_id,
                                      client_message_id=frame.client_message_id)
        return chat, question, None, answers.start_answer(db, s, chat, question, model, params)

    chat, question, answer, prepared = lite.run(s.db_url, work)
    # Committed: the question is saved before the model hears it.
    if prepared is not None:
        await answers.acknowledge_and_stream(s, frame.action, prepared)
        return
    assert answer is not None
    await s.ack(frame.action, chat_id=chat.id, user_message_id=question.id, assistant_message_id=answer.id,
                created=False)
    final = lite.run(s.db_url, lambda db: _attach(db, s, answer))
    if final is not None:
        await answers.replay(s, final)


def _attach(db: Db, s: WsSession, message: MessageRow) -> MessageRow | None:
    """Subscribe the connection to the message's live stream (None), or, when nothing
    streams it any more, the message as it is now (a dead stream is closed first).
    The generator sees a new subscriber at its next poll and sends it the text so far from
    memory (fresher than the database), then live deltas."""
    if message.status == "streaming" and control.live_stream(db, message.chat_id) == message.id:
        control.subscribe(db, message.id, s.connection_id)
        return None
    return get_message(db, message.id) or message


async def edit(s: WsSession, frame: schemas.Edit) -> None:
    _check_length(s, frame.content)

    def work(db: Db) -> tuple[Prepared, bool]:
        chat = answers.owned_chat(db, s, frame.chat_id)
        original = answers.owned_message(db, chat, frame.message_id)
        if original.role != "user":
            raise WsError("invalid_request", "message_id: only user messages can be edited",
                          chat_id=chat.id, message_id=original.id)
        model = answers.resolve_model(db, s, chat, frame.model)
        answers.ensure_idle(db, chat)
        question, created = tree.edit(db, chat, original.id, frame.content, frame.client_message_id)
        return answers.start_answer(db, s, chat, question, model, {}), created

    prepared, created = lite.run(s.db_url, work)
    await answers.acknowledge_and_stream(s, frame.action, prepared, created)


async def regenerate(s: WsSession, frame: schemas.Regenerate) -> None:
    def work(db: Db) -> Prepared:
        chat = answers.owned_chat(db, s, frame.chat_id)
        target = answers.owned_message(db, chat, frame.message_id)
        question = target if target.role == "user" else (
            answers.owned_message(db, chat, target.parent_id) if target.parent_id else None)
        if question is None or question.role != "user":
            raise WsError("invalid_request", "message_id: nothing to regenerate here", chat_id=chat.id,
                          message_id=frame.message_id)
        model = answers.resolve_model(db, s, chat,
                                      frame.model or (target.model if target.role == "assistant" else None))
        answers.ensure_idle(db, chat)
        return answers.start_answer(db, s, chat, question, model, {})

    await answers.acknowledge_and_stream(s, frame.action, lite.run(s.db_url, work))


async def stop(s: WsSession, frame: schemas.Stop) -> None:
    def work(db: Db) -> None:
        chat = answers.owned_chat(db, s, frame.chat_id)
        message = answers.owned_message(db, chat, frame.message_id)
        if message.status != "streaming" or not control.request_stop(db, message.id):
            raise WsError("not_streaming", "This answer is not streaming", chat_id=chat.id, message_id=message.id)

    lite.run(s.db_url, work)
    await s.ack(frame.action, chat_id=frame.chat_id, message_id=frame.message_id)


async def resume(s: WsSession, frame: schemas.Resume) -> None:
    def work(db: Db) -> tuple[ChatRow, MessageRow, MessageRow | None]:
        chat = answers.owned_chat(db, s, frame.chat_id)
        message_id = frame.message_id or chat.current_leaf_id
        if message_id is None:
            raise WsError("message_not_found", "This chat has no messages yet", chat_id=chat.id)
        message = answers.owned_message(db, chat, message_id)
        return chat, message, _attach(db, s, message)

    chat, message, final = lite.run(s.db_url, work)
    await s.ack(frame.action, chat_id=chat.id, message_id=message.id, streaming=final is None)
    if final is not None:
        await answers.replay(s, final)


async def pull(s: WsSession, frame: schemas.Pull) -> None:
    if not s.principal.is_admin:
        raise WsError("forbidden", "Only an admin can pull models")
    provider_name, name = catalog.split_id(frame.model)
    if provider_name != "ollama" or not registry.enabled(s.settings, "ollama"):
        raise WsError("invalid_request", "model: only ollama/<name:tag> models can be pulled")
    if s.settings.pull_queue:
        await _relay_queued_pull(s, frame)
        return
    await s.ack(frame.action, model=frame.model)
    provider = registry.get_provider(s.settings, "ollama")
    last_sent, last_status = 0.0, None
    try:
        async for progress in provider.pull(name):
            status = progress.get("status")
            now = time.monotonic()
            if status != last_status or now - last_sent >= PULL_PROGRESS_EVERY_S:
                last_sent, last_status = now, status
                await s.send({"type": "model.pull.progress", "model": frame.model, "status": status,
                              "completed": progress.get("completed"), "total": progress.get("total")})
    except ProviderError as exc:
        raise WsError(exc.code, exc.message, model=frame.model) from None
    catalog.invalidate_cache()
    await s.send({"type": "model.pull.done", "model": frame.model})


HANDLERS = {"ping": ping, "chat.send": send, "chat.stop": stop, "chat.regenerate": regenerate, "chat.edit": edit,
            "chat.resume": resume, "model.pull": pull}


async def _relay_queued_pull(s: WsSession, frame: schemas.Pull) -> None:
    """Queue the pull for the worker beside Ollama and relay the progress it writes, until
    the pull ends or this invocation nears its deadline (the pull goes on; sending
    `model.pull` again attaches to it)."""
    pull_id = lite.run(s.db_url, lambda db: pulls.request_pull(db, frame.model, s.principal.user_id).id)
    await s.ack(frame.action, model=frame.model, pull_id=pull_id)
    last: tuple[object, ...] | None = None
    while True:
        row = lite.run(s.db_url, lambda db: pulls.get_pull(db, pull_id))
        state = (row.status, row.status_text, row.completed, row.total, row.error) if row else None
        if state is None or state[0] == "cancelled":
            raise WsError("pull_cancelled", "The pull was cancelled", model=frame.model)
        status, text, completed, total, error = state
        if state != last:
            last = state
            await s.send({"type": "model.pull.progress", "model": frame.model, "pull_id": pull_id,
                          "status": text or status, "completed": completed, "total": total})
        if status == "success":
            catalog.invalidate_cache()
            await s.send({"type": "model.pull.done", "model": frame.model, "pull_id": pull_id})
            return
        if status == "error":
            raise WsError("pull_failed", error or "The pull failed", model=frame.model)
        if s.deadline is not None and time.monotonic() > s.deadline - PULL_POLL_S:
            await s.send({"type": "model.pull.progress", "model": frame.model, "pull_id": pull_id,
                          "status": "continuing in the background", "completed": completed, "total": total})
            return
        await asyncio.sleep(PULL_POLL_S)

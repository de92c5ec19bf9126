"""The protocol's actions. Each validates everything it can before it writes, commits the
user's message before any model call, then streams."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import delete, select

from omnichat.chats import service, tree
from omnichat.db.engine import session_scope
from omnichat.db.models import Message, ModelPull, Stream, UploadPart, utcnow
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
    with session_scope(s.db_url) as db:
        db.execute(delete(UploadPart).where(UploadPart.created_at < utcnow() - PARTS_TTL))
        key = (s.principal.user_id, frame.client_message_id, frame.part.index)
        if db.get(UploadPart, key) is None:
            db.add(UploadPart(user_id=key[0], client_message_id=key[1], part_index=key[2],
                              part_count=frame.part.count, content=frame.content))
        db.flush()
        parts = list(db.scalars(select(UploadPart).where(UploadPart.user_id == s.principal.user_id,
                                                         UploadPart.client_message_id == frame.client_message_id)
                                .order_by(UploadPart.part_index)))
        if len(parts) < frame.part.count or frame.part.index != frame.part.count - 1:
            total = sum(len(p.content) for p in parts)
            if total > s.settings.max_message_chars:
                raise WsError("message_too_long", f"A message has at most {s.settings.max_message_chars} characters")
            return None
        if any(p.part_count != frame.part.count for p in parts):
            raise WsError("invalid_request", "part.count differs between the parts of one message")
        for p in parts:
            db.delete(p)
        return "".join(p.content for p in parts)


async def send(s: WsSession, frame: schemas.Send) -> None:
    content = frame.content
    if frame.part is not None and frame.part.count > 1:
        whole = _collect_part(s, frame)
        if whole is None:
            await s.ack(frame.action, client_message_id=frame.client_message_id, part=frame.part.model_dump())
            return
        content = whole
    _check_length(s, content)
    params = frame.params.model_dump(exclude_none=True) if frame.params else {}
    replay_of: Message | None = None
    prepared: Prepared | None = None
    with session_scope(s.db_url) as db:
        if frame.chat_id:
            chat = answers.owned_chat(db, s, frame.chat_id)
            existing = tree.find_by_client_id(db, chat, frame.client_message_id)
        else:
            chat, existing = None, None
        model = answers.resolve_model(db, s, chat, frame.model)
        if existing is not None:  # a retried send: answer what is already there
            replay_of = db.scalar(select(Message).where(Message.parent_id == existing.id,
                                                        Message.role == "assistant").order_by(Message.id.desc()))
            if replay_of is not None:
                await s.ack(frame.action, chat_id=chat.id, user_message_id=existing.id,
                            assistant_message_id=replay_of.id, created=False)
                if replay_of.status == "streaming" and control.live_stream(db, chat.id) is not None:
                    control.subscribe(db, replay_of.id, s.connection_id)
                    return
            question = existing
        else:
            if chat is None:
                chat = service.create(db, s.principal, model=model.id, system_prompt=frame.system_prompt,
                                      params=params)
            elif frame.system_prompt is not None:
                chat.system_prompt = frame.system_prompt
            question = None
        if replay_of is None:
            assert chat is not None
            answers.ensure_idle(db, chat)
            if question is None:
                if frame.parent_id:
                    answers.owned_message(db, chat, frame.parent_id)
                question, _ = tree.append(db, chat, role="user", content=content, parent_id=frame.parent_id,
                                          client_message_id=frame.client_message_id)
            prepared = answers.start_answer(db, s, chat, question, model, params)
    # Committed: the question is saved before the model hears it.
    if replay_of is not None:
        await answers.replay(s, replay_of)
        return
    assert prepared is not None
    await answers.acknowledge_and_stream(s, frame.action, prepared)


async def edit(s: WsSession, frame: schemas.Edit) -> None:
    _check_length(s, frame.content)
    with session_scope(s.db_url) as db:
        chat = answers.owned_chat(db, s, frame.chat_id)
        original = answers.owned_message(db, chat, frame.message_id)
        if original.role != "user":
            raise WsError("invalid_request", "message_id: only user messages can be edited",
                          chat_id=chat.id, message_id=original.id)
        model = answers.resolve_model(db, s, chat, frame.model)
        answers.ensure_idle(db, chat)
        question, created = tree.edit(db, chat, original.id, frame.content, frame.client_message_id)
        prepared = answers.start_answer(db, s, chat, question, model, {})
    await answers.acknowledge_and_stream(s, frame.action, prepared, created)


async def regenerate(s: WsSession, frame: schemas.Regenerate) -> None:
    with session_scope(s.db_url) as db:
        chat = answers.owned_chat(db, s, frame.chat_id)
        target = answers.owned_message(db, chat, frame.message_id)
        question = target if target.role == "user" else (
            answers.owned_message(db, chat, target.parent_id) if target.parent_id else None)
        if question is None or question.role != "user":
            raise WsError("invalid_request", "message_id: nothing to regenerate here", chat_id=chat.id,
                          message_id=frame.message_id)
        model = answers.resolve_model(db, s, chat, frame.model or (target.model if target.role == "assistant" else None))
        answers.ensure_idle(db, chat)
        prepared = answers.start_answer(db, s, chat, question, model, {})
    await answers.acknowledge_and_stream(s, frame.action, prepared)


async def stop(s: WsSession, frame: schemas.Stop) -> None:
    with session_scope(s.db_url) as db:
        chat = answers.owned_chat(db, s, frame.chat_id)
        message = answers.owned_message(db, chat, frame.message_id)
        if message.status != "streaming" or not control.request_stop(db, message.id):
            raise WsError("not_streaming", "This answer is not streaming", chat_id=chat.id, message_id=message.id)
    await s.ack(frame.action, chat_id=frame.chat_id, message_id=frame.message_id)


async def resume(s: WsSession, frame: schemas.Resume) -> None:
    with session_scope(s.db_url) as db:
        chat = answers.owned_chat(db, s, frame.chat_id)
        message_id = frame.message_id or chat.current_leaf_id
        if message_id is None:
            raise WsError("message_not_found", "This chat has no messages yet", chat_id=chat.id)
        message = answers.owned_message(db, chat, message_id)
        live = message.status == "streaming" and db.get(Stream, message.id) is not None \
            and control.live_stream(db, chat.id) is not None
        if live:
            # The generator sees the new subscriber at its next poll and sends the text so
            # far from memory (fresher than the database), then live deltas.
            control.subscribe(db, message.id, s.connection_id)
        else:
            db.refresh(message)
    await s.ack(frame.action, chat_id=chat.id, message_id=message.id, streaming=live)
    if not live:
        await answers.replay(s, message)


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
    with session_scope(s.db_url) as db:
        pull_id = pulls.request_pull(db, frame.model, s.principal.user_id).id
    await s.ack(frame.action, model=frame.model, pull_id=pull_id)
    last: tuple[object, ...] | None = None
    while True:
        with session_scope(s.db_url) as db:
            row = db.get(ModelPull, pull_id)
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

"""The protocol's actions. Each validates everything it can before it writes, commits the
user's message before any model call, then streams."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from omnichat.catalog import catalog, presets, pulls
from omnichat.chats import attachments as links
from omnichat.chats import sends, service, tree
from omnichat.chats.rows import ChatRow, MessageRow, get_message, latest_answer
from omnichat.db import lite
from omnichat.db.lite import Db
from omnichat.providers import registry
from omnichat.providers.errors import ProviderError
from omnichat.streaming import control
from omnichat.ws import answers, schemas
from omnichat.ws.answers import Prepared
from omnichat.ws.session import WsError, WsSession

log = logging.getLogger("omnichat.ws")
PULL_PROGRESS_EVERY_S = 0.25
PULL_POLL_S = 1.0  # how often a queued pull's row is read
T = TypeVar("T")


async def _knowing_vision(s: WsSession, run: Callable[[], T]) -> T:
    """`run` (a transaction), run again after learning whether its model reads images when
    it needed to know (answers.VisionUnknown: no I/O inside a transaction)."""
    for _ in range(2):
        try:
            return run()
        except answers.VisionUnknown as exc:
            await answers.learn_vision(s, exc)
    return run()


async def ping(s: WsSession, frame: schemas.Ping) -> None:
    await s.send({"type": "pong", "request_id": s.request_id})


def _check_length(s: WsSession, content: str) -> None:
    if not content.strip():
        raise WsError("invalid_request", "content: a message cannot be empty")
    if len(content) > s.settings.max_message_chars:
        raise WsError("message_too_long", f"A message has at most {s.settings.max_message_chars} characters")


@dataclass
class Accepted:
    """What a send or an edit did: a new answer to stream (`prepared`), or, for a repeat
    of one accepted before, the first one's messages (`created` False)."""
    chat_id: str
    question_id: str
    answer_id: str | None
    prepared: Prepared | None = None
    final: MessageRow | None = None  # a repeat's answer when nothing streams it any more
    # The question's collections, [{id, name}], when a preset added to them (the page shows them at once).
    collections: list[dict[str, str]] | None = None

    @property
    def created(self) -> bool:
        return self.prepared is not None


class _Duplicate(Exception):
    """The key was accepted by a transaction that did not wait for the lock: roll back."""


def _committed(db: Db, user_id: str, client_message_id: str) -> sends.SendRow:
    """The send whose claim beat ours: committed, so it is there to read."""
    earlier = sends.find(db, user_id, client_message_id)
    if earlier is None:
        raise RuntimeError(f"send {client_message_id!r} lost its claim to a send that is not there")
    return earlier


def _repeat(db: Db, s: WsSession, earlier: sends.SendRow) -> Accepted:
    """A send whose key was accepted before: its answer, live (this connection joins the
    stream) or as it ended."""
    return _answered(db, s, earlier.chat_id, earlier.message_id)


def _answered(db: Db, s: WsSession, chat_id: str, question_id: str) -> Accepted:
    """A question saved before, and its latest answer as `_attach` gives it."""
    answer = latest_answer(db, question_id)
    return Accepted(chat_id, question_id, answer.id if answer else None,
                    final=_attach(db, s, answer) if answer else None)


def _accept(s: WsSession, client_message_id: str, accept: Callable[[Db], Accepted | None]) -> Accepted | None:
    """Run `accept` (which saves the question and starts its answer, or returns None for
    a message still waiting for parts) at most once per (user, client_message_id)."""
    user_id = s.principal.user_id

    def work(db: Db) -> Accepted | None:
        sends.lock(db, user_id, client_message_id)
        earlier = sends.find(db, user_id, client_message_id)
        if earlier is not None:
            return _repeat(db, s, earlier)
        accepted = accept(db)
        if accepted is not None and accepted.prepared is not None and not sends.claim(
                db, user_id, client_message_id, accepted.chat_id, accepted.question_id):
            raise _Duplicate
        return accepted

    try:
        return lite.run(s.db_url, work)
    except _Duplicate:
        return lite.run(s.db_url, lambda db: _repeat(db, s, _committed(db, user_id, client_message_id)))


SEND_FIELDS = ("chat_id", "model", "parent_id", "system_prompt", "params", "attachments", "collections")


async def send(s: WsSession, frame: schemas.Send) -> None:
    parted = frame.part is not None and frame.part.count > 1
    if frame.model:  # an unknown model is refused before anything is saved
        await answers.ensure_offered(s, frame.model)
    if not parted:
        _check_length(s, frame.content)
    own = {name: getattr(frame, name) for name in SEND_FIELDS}
    own["params"] = frame.params.given() if frame.params else None
    own["attachments"] = list(frame.attachments) if frame.attachments else None  # kept as JSON with parts
    own["collections"] = list(frame.collections) if frame.collections else None

    def accept(db: Db) -> Accepted | None:
        content, fields = frame.content, own
        if parted:
            assert frame.part is not None
            try:
                whole = sends.add_part(db, s.principal.user_id, frame.client_message_id, frame.part.index,
                                       frame.part.count, frame.content, own, s.settings.max_message_chars)
            except sends.BadParts as exc:
                raise WsError(exc.code, str(exc)) from None
            if whole is None:
                return None
            content, fields = whole.content, whole.fields
            _check_length(s, content)
        return _ask(db, s, frame.client_message_id, content, **fields)

    accepted = await _knowing_vision(s, lambda: _accept(s, frame.client_message_id, accept))
    part = asdict(frame.part) if parted and frame.part else None
    if accepted is None:
        await s.ack(frame.action, client_message_id=frame.client_message_id, part=part)
        return
    await _answer(s, frame.action, accepted, client_message_id=frame.client_message_id,
                  **({"part": part} if part else {}))


def _ask(db: Db, s: WsSession, client_message_id: str, content: str, *, chat_id: str | None, model: str | None,
         parent_id: str | None, system_prompt: str | None, params: dict[str, Any] | None,
         attachments: list[str] | None = None, collections: list[str] | None = None) -> Accepted:
    """Save a new question (in a new chat when `chat_id` is None), with its attachments and
    collections, and start its answer."""
    chat = answers.owned_chat(db, s, chat_id) if chat_id else None
    resolved = answers.resolve_model(db, s, chat, model)
    collections = list(dict.fromkeys([*(collections or []), *_preset_collections(db, s, resolved)]))
    scope = _checked_scope(db, s, attachments or [], collections or [], chat_id) if attachments or collections \
        else None
    if chat is None:
        chat = service.create(db, s.principal, model=resolved.id, system_prompt=system_prompt, params=params)
    elif system_prompt is not None:
        service.update_chat(db, chat, {"system_prompt": system_prompt})
    answers.ensure_idle(db, chat)
    if parent_id:
        answers.owned_message(db, chat, parent_id)
    question, created = tree.append(db, chat, role="user", content=content, parent_id=parent_id,
                                    client_message_id=client_message_id)
    if not created:  # saved before the key was kept in `sends` (an older server)
        return _answered(db, s, chat.id, question.id)
    if scope:
        links.link(db, question.id, scope.file_ids, scope.collection_ids)
    prepared = answers.start_answer(db, s, chat, question, resolved, params or {}, scope)
    return Accepted(chat.id, question.id, prepared.answer_id, prepared=prepared,
                    collections=_named(db, scope.collection_ids) if scope and resolved.preset_id else None)


def _preset_collections(db: Db, s: WsSession, model: catalog.ResolvedModel) -> list[str]:
    """A preset's knowledge collections that the sender may read (none for a plain model):
    they join the question's scope and are saved with it, as the `#` ones are."""
    return presets.collections_for(db, model.preset_id, s.principal.user_id) if model.preset_id else []


def _scope_with_preset(db: Db, s: WsSession, question_id: str, model: catalog.ResolvedModel) -> links.Scope:
    """The scope of a saved question answered (again) with `model`: what it was asked over,
    and the preset's collections, which are saved with the question from now on."""
    links.add_collections(db, question_id, _preset_collections(db, s, model))
    return links.scope_of(db, question_id)


def _named(db: Db, collection_ids: tuple[str, ...]) -> list[dict[str, str]]:
    """Collections as the ack names them (ids checked readable already), by name."""
    if not collection_ids:
        return []
    rows = db.execute(f"SELECT id, name FROM collections WHERE id IN ({', '.join('?' * len(collection_ids))})"
                      " ORDER BY lower(name), id", *collection_ids).fetchall()
    return [{"id": r[0], "name": r[1]} for r in rows]


def _checked_scope(db: Db, s: WsSession, file_ids: list[str], collection_ids: list[str],
                   chat_id: str | None) -> links.Scope:
    from omnichat.documents import retrieval  # only for a question with documents

    try:
        return retrieval.checked_scope(db, s.principal.user_id, file_ids, collection_ids)
    except retrieval.Refused as exc:
        raise WsError(exc.code, exc.message, chat_id=chat_id, **exc.context) from None


async def _answer(s: WsSession, action: str, accepted: Accepted, **ack: Any) -> None:
    """Ack a send or an edit, then stream its new answer, or replay a repeat's."""
    if accepted.collections is not None:
        ack["collections"] = accepted.collections
    await s.ack(action, chat_id=accepted.chat_id, user_message_id=accepted.question_id,
                assistant_message_id=accepted.answer_id, created=accepted.created, **ack)
    if accepted.prepared is not None:
        await answers.stream_answer(s, accepted.prepared)
    elif accepted.final is not None:
        await answers.replay(s, accepted.final)


def _attach(db: Db, s: WsSession, message: MessageRow) -> MessageRow | None:
    """Subscribe the connection to the message's live stream (None), or, when nothing
    streams it any more, the message as it is now (a dead stream is closed first).
    The generator sees a new subscriber at its next poll and sends it the text so far from
    memory (fresher than the database), then live deltas."""
    if message.status == "streaming" and control.join(db, message.chat_id, message.id, s.connection_id):
        return None
    return get_message(db, message.id) or message


async def edit(s: WsSession, frame: schemas.Edit) -> None:
    _check_length(s, frame.content)
    if frame.model:
        await answers.ensure_offered(s, frame.model)

    def accept(db: Db) -> Accepted:
        chat = answers.owned_chat(db, s, frame.chat_id)
        original = answers.owned_message(db, chat, frame.message_id)
        if original.role != "user":
            raise WsError("invalid_request", "message_id: only user messages can be edited",
                          chat_id=chat.id, message_id=original.id)
        model = answers.resolve_model(db, s, chat, frame.model)
        answers.ensure_idle(db, chat)
        question, created = tree.edit(db, chat, original.id, frame.content, frame.client_message_id)
        if not created:  # saved before the key was kept in `sends` (an older server)
            return _answered(db, s, chat.id, question.id)
        links.copy(db, original.id, question.id)  # the new text asks over the same documents
        scope = _scope_with_preset(db, s, question.id, model)
        prepared = answers.start_answer(db, s, chat, question, model, {}, scope)
        return Accepted(chat.id, question.id, prepared.answer_id, prepared=prepared,
                        collections=_named(db, scope.collection_ids) if model.preset_id else None)

    accepted = await _knowing_vision(s, lambda: _accept(s, frame.client_message_id, accept))
    assert accepted is not None
    await _answer(s, frame.action, accepted)


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
        # The same question over the same documents (and a preset's collections).
        return answers.start_answer(db, s, chat, question, model, {}, _scope_with_preset(db, s, question.id, model))

    await answers.acknowledge_and_stream(s, frame.action, await _knowing_vision(s, lambda: lite.run(s.db_url, work)))


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
    name = catalog.ollama_name(frame.model)
    if name is None or not registry.enabled(s.settings, "ollama"):
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
        exc.log(log, f"pull of {frame.model}")
        raise WsError(exc.code, exc.message, model=frame.model) from None
    catalog.invalidate_cache()
    await s.send({"type": "model.pull.done", "model": frame.model})


# Each takes the frame its action's schema parsed (schemas.parse), hence Any here.
HANDLERS: dict[str, Callable[[WsSession, Any], Awaitable[None]]] = {
    "ping": ping, "chat.send": send, "chat.stop": stop, "chat.regenerate": regenerate, "chat.edit": edit,
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

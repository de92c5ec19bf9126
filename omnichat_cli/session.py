"""A WebSocket session that survives dropped connections: it reconnects with backoff and
a fresh ticket, and resumes the answer that was streaming."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import websockets
from websockets.exceptions import ConnectionClosed, WebSocketException

from omnichat_cli.rest import Rest, Unreachable


@dataclass
class Answer:
    """An answer as the client assembles it: text by offset, so replays and resumes
    never duplicate or lose a piece."""

    chat_id: str
    message_id: str
    text: str = ""
    status: str = "streaming"
    usage: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)  # what the answer may cite as [n]

    def apply(self, offset: int, piece: str) -> str:
        """Add `piece` at `offset`; returns the part that is new."""
        if offset > len(self.text):
            return ""  # a gap: a resume will resend from the start
        new = piece[len(self.text) - offset:] if offset + len(piece) > len(self.text) else ""
        self.text += new
        return new


class Session:
    def __init__(self, rest: Rest, on_event: Callable[[dict[str, Any]], None],
                 max_reconnects: int = 8, backoff_s: float = 0.5) -> None:
        self.rest = rest
        self.on_event = on_event
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s
        self.ws: Any = None
        self.chat_id: str | None = None
        self.question_id: str | None = None  # the last question sent (for /edit)
        self.answer: Answer | None = None
        self.done = asyncio.Event()
        self.closing = False
        self.lost = False  # the reconnects gave up: the session is over
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Open the WebSocket (Unreachable when it cannot be opened)."""
        ticket = await asyncio.to_thread(self.rest.ticket)
        try:
            self.ws = await websockets.connect(f"{self.rest.endpoints.ws}?ticket={quote(ticket)}&v=1",
                                               max_size=2**20)
        except (OSError, WebSocketException) as exc:
            raise Unreachable(self.rest.endpoints.ws, exc) from None
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def send(self, frame: dict[str, Any]) -> None:
        frame.setdefault("request_id", f"r{next(self._ids)}")
        await self.ws.send(json.dumps(frame))

    async def _answered(self, frame: dict[str, Any]) -> Answer | None:
        """Send a frame that produces an answer and wait until it has ended."""
        self.done.clear()
        self.answer = None
        await self.send(frame)
        await self.done.wait()
        return self.answer

    async def ask(self, content: str, model: str | None, attachments: list[str] | None = None) -> Answer | None:
        frame: dict[str, Any] = {"action": "chat.send", "content": content, "client_message_id": uuid.uuid4().hex}
        if attachments:
            frame["attachments"] = attachments
        if self.chat_id:
            frame["chat_id"] = self.chat_id
        if model:
            frame["model"] = model
        return await self._answered(frame)

    async def regenerate(self, model: str | None) -> Answer | None:
        """A new answer to the last question (the old one stays, as a sibling)."""
        if self.chat_id is None or self.answer is None:
            return None
        frame = {"action": "chat.regenerate", "chat_id": self.chat_id, "message_id": self.answer.message_id}
        return await self._answered({**frame, "model": model} if model else frame)

    async def edit(self, content: str, model: str | None) -> Answer | None:
        """Ask the last question again, reworded: a new branch of the chat."""
        if self.chat_id is None or self.question_id is None:
            return None
        frame = {"action": "chat.edit", "chat_id": self.chat_id, "message_id": self.question_id, "content": content,
                 "client_message_id": uuid.uuid4().hex}
        return await self._answered({**frame, "model": model} if model else frame)

    async def stop(self) -> None:
        if self.answer is not None and self.answer.status == "streaming":
            await self.send({"action": "chat.stop", "chat_id": self.answer.chat_id,
                             "message_id": self.answer.message_id})

    # ---- incoming -------------------------------------------------------------------
    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "ack" and event.get("chat_id"):
            self.chat_id = event["chat_id"]
            self.question_id = event.get("user_message_id") or self.question_id
        elif kind == "message.started":
            self.answer = Answer(event["chat_id"], event["message_id"])
        elif kind in ("delta", "message.snapshot") and self.answer and event["message_id"] == self.answer.message_id:
            event = {**event, "new_text": self.answer.apply(event["offset"], event["text"])}
        elif kind == "message.done" and self.answer and event["message_id"] == self.answer.message_id:
            self.answer.status, self.answer.usage = event["status"], event["usage"]
            self.answer.error = event.get("error")
            self.answer.sources = event.get("sources") or []
            self.done.set()
        elif kind == "error" and (self.answer is None or event.get("message_id") is None):
            self.done.set()  # the request failed before any answer started
        self.on_event(event)

    async def _read(self) -> None:
        attempts = 0
        while True:
            try:
                async for raw in self.ws:
                    attempts = 0
                    self._handle(json.loads(raw))
                if self.closing:
                    return
            except ConnectionClosed:
                if self.closing:
                    return
            attempts += 1
            if attempts > self.max_reconnects:
                self.lost = True
                self.on_event({"type": "error", "code": "disconnected", "message": "Lost the connection"})
                self.done.set()
                return
            await asyncio.sleep(min(10.0, self.backoff_s * 2 ** (attempts - 1)))
            try:
                ticket = await asyncio.to_thread(self.rest.ticket)
                self.ws = await websockets.connect(f"{self.rest.endpoints.ws}?ticket={quote(ticket)}&v=1")
            except Exception:  # the server is not back yet: try again after a longer wait
                continue
            self.on_event({"type": "reconnected"})
            if self.answer is not None and self.answer.status == "streaming":
                await self.send({"action": "chat.resume", "chat_id": self.answer.chat_id,
                                 "message_id": self.answer.message_id})

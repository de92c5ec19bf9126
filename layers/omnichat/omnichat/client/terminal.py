"""The interactive terminal: type to chat, answers stream as they arrive (rendered as
Markdown on a terminal), Ctrl-C stops an answer without leaving."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
import sys
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown

from omnichat.client.rest import ApiError, Endpoints, Rest
from omnichat.client.session import Session

HELP = """Commands:
  /new            start a new chat
  /retry          answer the last question again (the old answer is kept)
  /edit <text>    reword the last question: a new branch of the chat
  /models         list the models you may use
  /model <id>     switch model (e.g. ollama/smollm2:135m)
  /chats          list your recent chats
  /open <n>       continue chat number n of /chats
  /help           this help
  /quit           leave (Ctrl-D works too)
Ctrl-C stops an answer while it streams."""


class Terminal:
    def __init__(self, rest: Rest, model: str | None, console: Console | None = None) -> None:
        self.rest = rest
        self.model = model
        self.console = console or Console(highlight=False)
        self.session = Session(rest, self.on_event)
        self.live: Live | None = None
        self.listed: list[dict[str, Any]] = []

    # ---- output -----------------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("delta", "message.snapshot") and event.get("new_text"):
            if self.live is not None and self.session.answer is not None:
                self.live.update(Markdown(self.session.answer.text))
            else:
                self.console.file.write(event["new_text"])
                self.console.file.flush()
        elif kind == "message.done":
            self._end_live()
            usage = event.get("usage") or {}
            note = f"[{event['status']} · {usage.get('output_tokens', 0)} tokens · {usage.get('duration_ms', 0):.0f} ms]"
            self.console.print(f"\n{note}", style="dim", markup=False)
        elif kind == "chat.title":
            self.console.print(f"chat: {event['title']}", style="dim", markup=False)
        elif kind == "error":
            self._end_live()
            self.console.print(f"error: {event.get('message')} ({event.get('code')})", style="red", markup=False)
        elif kind == "reconnected":
            self.console.print("\n[reconnected; resuming]", style="dim", markup=False)

    def _start_live(self) -> None:
        if self.console.is_terminal:
            self.live = Live(Markdown(""), console=self.console, refresh_per_second=12)
            self.live.start()

    def _end_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    # ---- commands ---------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run a /command; False means quit."""
        name, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name == "new":
            self.session.chat_id = self.session.question_id = None
            self.console.print("new chat", style="dim")
        elif name == "models":
            for m in self.rest.models():
                mark = "*" if m["id"] == self.model else " "
                self.console.print(f"{mark} {m['id']}  {m['display_name']}", markup=False)
        elif name == "model" and arg:
            self.model = arg
            self.console.print(f"model: {arg}", style="dim")
        elif name == "chats":
            self.listed = self.rest.chats()
            for i, chat in enumerate(self.listed, 1):
                self.console.print(f"{i:>3}. {chat['title']}  ({chat['model'] or 'no model'})", markup=False)
        elif name == "open" and arg.isdigit() and 0 < int(arg) <= len(self.listed):
            chat = self.listed[int(arg) - 1]
            self.session.chat_id, self.model = chat["id"], chat["model"] or self.model
            for m in self.rest.chat(chat["id"])["messages"][-6:]:
                self.console.print(f"{m['role']}: {m['content']}", style="dim" if m["role"] == "user" else None,
                                   markup=False)
        else:
            self.console.print(HELP)
        return True

    async def run(self) -> None:
        await self.session.connect()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(self.session.stop()))
        self.console.print(f"model: {self.model or '(none: pick one with /model)'} — /help for commands", style="dim")
        try:
            while True:
                try:
                    line = (await asyncio.to_thread(input, "› " if sys.stdin.isatty() else "")).strip()
                except EOFError:
                    break
                if not line:
                    continue
                name, _, arg = line.partition(" ")
                if name in ("/retry", "/edit"):
                    self._start_live()
                    answered = await (self.session.regenerate(self.model) if name == "/retry"
                                      else self.session.edit(arg.strip(), self.model) if arg.strip() else _none())
                    if answered is None:
                        self._end_live()
                        self.console.print("nothing to redo yet" if name == "/retry" else "usage: /edit <text>")
                    continue
                if line.startswith("/"):
                    if not self.command(line):
                        break
                    continue
                self._start_live()
                await self.session.ask(line, self.model)
        finally:
            self._end_live()
            loop.remove_signal_handler(signal.SIGINT)
            await self.session.close()


async def _none() -> None:
    return None


def main(url: str, ws_url: str | None, api_key: str | None, email: str | None, model: str | None) -> int:
    rest = Rest(Endpoints.discover(url, ws_url), token=api_key or os.environ.get("OMNICHAT_API_KEY"))
    console = Console(highlight=False)
    try:
        if rest.token is None:
            email = email or input("email: ").strip()
            rest.sign_in(email, os.environ.get("OMNICHAT_PASSWORD") or getpass.getpass("password: "))
        user = rest.me()
        if model is None:
            models = rest.models()
            model = models[0]["id"] if models else None
    except ApiError as exc:
        console.print(f"error: {exc}", style="red")
        return 1
    console.print(f"signed in as {user['email']}", style="dim")
    asyncio.run(Terminal(rest, model, console).run())
    return 0

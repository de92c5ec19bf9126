"""The interactive terminal: type to chat, answers stream as they arrive (rendered as
Markdown on a terminal), Ctrl-C stops an answer without leaving."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
from pathlib import Path
from typing import Any

from rich.console import Console
from websockets.exceptions import ConnectionClosed

from omnichat_cli.prompt import InputLine
from omnichat_cli.render import LiveAnswer
from omnichat_cli.rest import ApiError, Endpoints, Rest, Unreachable
from omnichat_cli.session import Session

SIGN_IN_TRIES = 3

HELP = """Commands:
  /new            start a new chat
  /retry          answer the last question again (the old answer is kept)
  /edit <text>    reword the last question: a new branch of the chat
  /models         list the models you may use
  /model <id>     switch model (e.g. ollama/smollm2:135m)
  /chats          list your recent chats
  /open <n>       continue chat number n of /chats
  /attach <path>  upload a file and attach it to your next message (/attach alone lists them)
  /detach         attach nothing to the next message
  /help           this help
  /quit           leave (Ctrl-D works too)
Ctrl-C stops an answer while it streams."""


class Terminal:
    def __init__(self, rest: Rest, model: str | None, console: Console | None = None) -> None:
        self.rest = rest
        self.model = model
        self.console = console or Console(highlight=False)
        self.session = Session(rest, self.on_event)
        self.live = LiveAnswer(self.console)
        self.line = InputLine(self.console)
        self.listed: list[dict[str, Any]] = []
        self.attached: list[dict[str, Any]] = []  # files for the next message

    # ---- output -----------------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("delta", "message.snapshot") and event.get("new_text"):
            if self.live.active and self.session.answer is not None:
                self.live.update(self.session.answer.text)
            else:
                self.console.file.write(event["new_text"])
                self.console.file.flush()
        elif kind == "message.done":
            self.live.stop()
            usage = event.get("usage") or {}
            note = (f"[{event['status']} · {usage.get('output_tokens', 0)} tokens"
                    f" · {usage.get('duration_ms', 0):.0f} ms]")
            self.console.print(f"\n{note}", style="dim", markup=False)
            for source in event.get("sources") or []:
                where = f" p. {source['page']}" if source.get("page") is not None else ""
                self.console.print(f"  [{source['n']}] {source['file_name']}{where}", style="dim", markup=False)
        elif kind == "chat.title":  # comes after the answer: the prompt may be waiting
            self.line.notice(f"chat: {event['title']}", style="dim")
        elif kind == "error":
            self.live.stop()
            self.line.notice(f"error: {event.get('message')} ({event.get('code')})", style="red")
        elif kind == "reconnected":
            self.line.notice("\n[reconnected; resuming]", style="dim")

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
        elif name == "attach":
            self.attach(arg)
        elif name == "detach":
            self.attached.clear()
            self.console.print("no attachments", style="dim")
        elif name == "open" and arg.isdigit() and 0 < int(arg) <= len(self.listed):
            chat = self.listed[int(arg) - 1]
            self.session.chat_id, self.model = chat["id"], chat["model"] or self.model
            for m in self.rest.chat(chat["id"])["messages"][-6:]:
                self.console.print(f"{m['role']}: {m['content']}", style="dim" if m["role"] == "user" else None,
                                   markup=False)
        else:
            self.console.print(HELP)
        return True

    async def run(self) -> int:
        """The chat until /quit or Ctrl-D (0), or until the server is gone for good (1)."""
        await self.session.connect()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(self.session.stop()))
        self.console.print(f"model: {self.model or '(none: pick one with /model)'} — /help for commands", style="dim")
        try:
            while not self.session.lost:
                try:
                    line = (await asyncio.to_thread(self.line.read)).strip()
                except EOFError:
                    return 0
                if not line:
                    continue
                try:
                    if not await self.handle(line):
                        return 0
                except (ApiError, Unreachable) as exc:  # the chat goes on
                    self.live.stop()
                    self.console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
                except ConnectionClosed:  # between two reconnects: nothing was sent
                    self.live.stop()
                    self.console.print("error: not connected right now; send it again in a moment", style="red")
            self.console.print(f"error: lost the connection to {self.rest.endpoints.ws}", style="red", markup=False,
                               soft_wrap=True)
            return 1
        finally:
            self.live.stop()
            loop.remove_signal_handler(signal.SIGINT)
            await self.session.close()

    async def handle(self, line: str) -> bool:
        """One line typed by the user; False means quit."""
        name, _, arg = line.partition(" ")
        if name in ("/retry", "/edit"):
            self.live.start()
            answered = await (self.session.regenerate(self.model) if name == "/retry"
                              else self.session.edit(arg.strip(), self.model) if arg.strip() else _none())
            if answered is None:
                self.live.stop()
                self.console.print("nothing to redo yet" if name == "/retry" else "usage: /edit <text>")
            return True
        if line.startswith("/"):
            return self.command(line)
        self.live.start()
        answer = await self.session.ask(line, self.model, [f["id"] for f in self.attached])
        if answer is not None:  # sent: the files went with it (a refused send keeps them for a retry)
            self.attached.clear()
        return True

    def attach(self, path: str) -> None:
        """Upload `path` and keep it for the next message; without a path, list what is kept."""
        if not path:
            if not self.attached:
                self.console.print("no attachments (/attach <path> adds one)", style="dim")
            for i, f in enumerate(self.attached):
                self.attached[i] = f = self.rest.file(f["id"])  # its status now
                self.console.print(f"  {f['name']} ({f['kind']}, {f['status']})", markup=False)
            return
        file = Path(os.path.expanduser(path))
        try:
            data = file.read_bytes()
        except OSError as exc:
            self.console.print(f"error: cannot read {file}: {exc.strerror or exc}", style="red", markup=False)
            return
        uploaded = self.rest.upload(file.name, data)
        self.attached.append(uploaded)
        self.console.print(f"attached: {uploaded['name']} ({uploaded['status']}) — sent with your next message",
                           style="dim", markup=False)


async def _none() -> None:
    return None


def sign_in(rest: Rest, email: str | None, console: Console) -> None:
    """Email and password. A wrong password is asked again, up to SIGN_IN_TRIES in all; one
    from $OMNICHAT_PASSWORD is tried once (asking again would not change it)."""
    email = email or input("email: ").strip()
    given = os.environ.get("OMNICHAT_PASSWORD")
    for tries_left in reversed(range(SIGN_IN_TRIES)):
        try:
            rest.sign_in(email, given or getpass.getpass("password: "))
            return
        except ApiError as exc:
            if exc.code != "invalid_credentials" or given or not tries_left:
                raise
            console.print(f"{exc.message}; try again ({tries_left} {'tries' if tries_left > 1 else 'try'} left)",
                          style="red", markup=False, soft_wrap=True)


def main(url: str, ws_url: str | None, api_key: str | None, email: str | None, model: str | None,
         sso: bool = False) -> int:
    """0 after /quit; 1 when the server cannot be reached or refuses (one line, no
    traceback); 130 on Ctrl-C before the chat starts."""
    console = Console(highlight=False)
    try:
        rest = Rest(Endpoints.discover(url, ws_url), token=api_key or os.environ.get("OMNICHAT_API_KEY"))
        if rest.token is None and sso:
            from omnichat_cli import browser_sign_in

            browser_sign_in.sign_in(rest, lambda text: console.print(text, markup=False, soft_wrap=True))
        elif rest.token is None:
            sign_in(rest, email, console)
        user = rest.me()
        if model is None:
            models = rest.models()
            model = models[0]["id"] if models else None
        console.print(f"signed in as {user['email']}", style="dim")
        return asyncio.run(Terminal(rest, model, console).run())
    except (ApiError, Unreachable) as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        return 1
    except EOFError:  # Ctrl-D at the email or password prompt
        console.print()
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the chat started (then it stops answers instead)
        console.print()
        return 130

"""The terminal client in a pseudo-terminal, as a user runs it: keys go in through the
terminal (Ctrl-C is the terminal's interrupt, echoed as ^C), and what comes out is drawn by
a terminal emulator (pyte), so a test reads the screen the user would see."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parents[2]


class Screen:
    def __init__(self, *args: str, env: dict[str, str], cols: int = 80, rows: int = 60) -> None:
        self.screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the client, with the pty as its terminal
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "omnichat.cli", "chat", *args], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.exit_code: int | None = None

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(line for line in self.lines if line)

    def _pump(self, timeout_s: float) -> bool:
        """Draw what the client wrote; False once it has closed the terminal."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the client has exited
            data = b""
        if not data:
            return False
        self._stream.feed(data)
        return True

    def wait_for_prompt(self, timeout_s: float = 30) -> None:
        """Until the last line drawn is the empty prompt."""
        self.wait_until(lambda: [line for line in self.lines if line][-1:] == ["›"], timeout_s, "prompt")

    def wait_for_password_prompt(self, nth: int, timeout_s: float = 30) -> None:
        """Until the nth password prompt is the last line. Keys typed before it would be
        dropped: getpass flushes pending input when it turns echo off."""
        self.wait_until(lambda: self.text.count("password:") == nth and self.text.endswith("password:"),
                        timeout_s, f"password prompt #{nth}")

    def wait_for(self, needle: str, timeout_s: float = 30) -> None:
        self.wait_until(lambda: needle in self.text, timeout_s, f"{needle!r} on screen")

    def wait_until(self, condition: Callable[[], bool], timeout_s: float = 30, what: str = "the condition") -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline or not self._pump(0.05):
                raise AssertionError(f"no {what} in time; the screen:\n{self.text}")

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait_exit(self, timeout_s: float = 30) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._pump(0.05):
            pass
        for _ in range(int(timeout_s * 20)):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
                return self.exit_code
            time.sleep(0.05)
        raise AssertionError(f"the client did not exit; the screen:\n{self.text}")

    def close(self) -> None:
        if self.exit_code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)

"""An answer drawn as it streams: Markdown, redrawn in place by rich's Live.

Live redraws by moving the cursor up as many lines as it drew the last time, so anything
else the terminal prints meanwhile breaks the count. The "^C" a terminal echoes when Ctrl-C
stops an answer lands after the last line, which rich pads to the full width: it wraps onto
a line of its own, the next redraw starts one line too low, and the answer's first line was
left on screen twice. While an answer is drawn the terminal therefore echoes nothing (keys
typed ahead are still there for the next prompt, which shows them) and keeps its pending
output when Ctrl-C is pressed (NOFLSH), as full-screen programs do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown


def quiet_terminal() -> Callable[[], None] | None:
    """Stop the terminal on stdin echoing keys (and ^C); returns what restores it, or None
    when stdin is not a terminal."""
    try:
        import termios
    except ImportError:  # not POSIX
        return None
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError, AttributeError):  # stdin is not a terminal
        return None
    quiet = list(saved)
    quiet[3] = (quiet[3] & ~(termios.ECHO | termios.ECHOCTL)) | termios.NOFLSH
    termios.tcsetattr(fd, termios.TCSANOW, quiet)  # TCSANOW: keys typed ahead are kept
    return lambda: termios.tcsetattr(fd, termios.TCSANOW, saved)


class LiveAnswer:
    """The answer being drawn; a no-op unless the console is a terminal (then the text is
    written as it arrives, by the caller)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live: Live | None = None
        self._restore: Callable[[], None] | None = None

    @property
    def active(self) -> bool:
        return self._live is not None

    def start(self) -> None:
        if self._live is None and self.console.is_terminal:
            self._restore = quiet_terminal()
            self._live = Live(Markdown(""), console=self.console, refresh_per_second=12)
            self._live.start()

    def update(self, text: str) -> None:
        if self._live is not None:
            self._live.update(Markdown(text))

    def stop(self) -> None:
        live, self._live = self._live, None
        restore, self._restore = self._restore, None
        try:
            if live is not None:
                live.stop()
        finally:
            if restore is not None:
                restore()

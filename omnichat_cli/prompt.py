"""The input line, and the lines that arrive while it waits.

A new chat's title arrives after its answer has ended, when the prompt is already shown:
printed as is, it would land on the prompt line, after what the user is typing. `notice`
prints such a line above the prompt instead, then draws the prompt again with the text
typed so far (readline knows it), so the user goes on typing where they were.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.control import Control
from rich.segment import ControlType

PROMPT = "› "


def _readline() -> ModuleType | None:
    try:
        import readline  # line editing and history too; absent on some platforms
    except ImportError:
        return None
    return readline


class InputLine:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.interactive = sys.stdin.isatty() and console.is_terminal
        self.prompt = PROMPT if self.interactive else ""
        self.shown = False  # the prompt is on screen, waiting for a line
        self._readline = _readline() if self.interactive else None
        if self._readline is not None:
            self._readline.set_pre_input_hook(self._on_shown)  # called once the prompt is drawn

    def read(self) -> str:
        """One line (blocking: run it in a thread); EOFError on Ctrl-D."""
        if self._readline is None:
            self.shown = self.interactive
        try:
            return input(self.prompt)
        finally:
            self.shown = False

    def _on_shown(self) -> None:
        self.shown = True

    def notice(self, text: str, **style: Any) -> None:
        """Print a line; above the prompt when the prompt is waiting."""
        if not self.shown:
            self.console.print(text, markup=False, **style)
            return
        typed = self._readline.get_line_buffer() if self._readline is not None else ""
        self.console.control(Control((ControlType.CARRIAGE_RETURN,), (ControlType.ERASE_IN_LINE, 2)))
        self.console.print(text, markup=False, **style)
        self.console.file.write(self.prompt + typed)
        self.console.file.flush()

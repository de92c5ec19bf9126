"""One writer on the shared model store.

An exclusive flock(2) on a file in OLLAMA_MODELS. On EFS (NFSv4.1) Linux turns flock into a
whole-file lock the server arbitrates, so it excludes writers in every task on every
instance, and the server releases it when a holder's client goes away.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path


class StoreLock:
    def __init__(self, path: Path | str, *, poll_s: float = 2.0) -> None:
        self.path = Path(path)
        self.poll_s = poll_s
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def acquire(self, *, while_waiting: Callable[[], bool] | None = None,
                stop: threading.Event | None = None) -> bool:
        """Wait for the lock. `while_waiting` runs between attempts (heartbeats); if it
        returns False, or `stop` is set, give up and return False."""
        while not self.try_acquire():
            if while_waiting is not None and not while_waiting():
                return False
            if stop is not None:
                if stop.wait(self.poll_s):
                    return False
            else:
                threading.Event().wait(self.poll_s)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

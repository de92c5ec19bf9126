"""Time-ordered ids (UUIDv7 layout): sortable by creation, so "newest first" and sibling
order need no extra sequence column, and ids created in one process never go backwards."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def new_id() -> str:
    global _last
    with _lock:
        # 48-bit ms timestamp << 16 | 12-bit sub-ms counter; strictly increasing per process.
        stamp = max(time.time_ns() // 1_000_000 << 12, _last + 1)
        _last = stamp
    ms, counter = stamp >> 12, stamp & 0xFFF
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))

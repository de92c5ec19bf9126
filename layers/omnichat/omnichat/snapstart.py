"""Lambda SnapStart: Lambda runs a function's INIT once per published version, snapshots
the process, and restores the snapshot at every cold start. Handlers build their heavy
parts on the first event; under SnapStart they build them in INIT instead, so the snapshot
holds them and no request pays for them."""

from __future__ import annotations

import importlib
import os
import random


def snapshotting() -> bool:
    """True during an INIT that Lambda will snapshot."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def prepare(*modules: str) -> None:
    """Imports `modules`. Nothing here may open a connection or read a secret: a snapshot
    must not hold either. After each restore `random` is reseeded, or every environment
    restored from one snapshot would draw the same retry jitter."""
    for name in modules:
        importlib.import_module(name)
    try:
        from snapshot_restore_py import register_after_restore  # in Lambda's Python runtime
    except ImportError:
        return
    register_after_restore(random.seed)

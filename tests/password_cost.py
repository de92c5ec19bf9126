"""argon2id at a test-sized cost: the same algorithm and code path as production, a fraction
of its CPU (a production hash or check is ~0.16 s of CPU), for suites that make hundreds of
accounts. The pytest process uses it throughout (tests/conftest.py); a server the tests
start in its own process runs under it with

    python -m tests.password_cost MODULE [ARGS...]

which runs `python -m MODULE ARGS...` with the test cost. Hashes carry their parameters, so
an account made at either cost signs in at both."""

from __future__ import annotations

import runpy
import sys
from collections.abc import Callable

from argon2 import PasswordHasher

from omnichat.auth import passwords

TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def use_test_cost() -> Callable[[], None]:
    """Hash at the test cost from now on; returns what puts production's cost back."""
    original = passwords._hasher
    passwords._hasher = lambda: TEST_HASHER  # type: ignore[assignment]
    passwords.dummy_hash.cache_clear()

    def restore() -> None:
        passwords._hasher = original  # type: ignore[assignment]
        passwords.dummy_hash.cache_clear()

    return restore


if __name__ == "__main__":
    module, sys.argv = sys.argv[1], sys.argv[1:]
    use_test_cost()
    runpy.run_module(module, run_name="__main__", alter_sys=True)

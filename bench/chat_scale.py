"""Does a chat stay fast as it grows? Median time to append one message and then fetch the
newest page of the branch (what a send costs the server), in a chat of 10 messages and in
one of 10,000, on PostgreSQL when OMNICHAT_TEST_DATABASE_URL is set, else SQLite.

    .venv/bin/python bench/chat_scale.py [--iterations 300]

Last line: {"db": ..., "small_ms": ..., "large_ms": ..., "ratio": ...}; target ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "omnichat"))


from omnichat.auth.principal import Principal  # noqa: E402
from omnichat.chats import service, tree  # noqa: E402
from omnichat.chats.rows import MessageRow  # noqa: E402
from omnichat.db import engine as db_engine  # noqa: E402
from omnichat.db import lite, migrate  # noqa: E402
from omnichat.db.lite import Db, utcnow  # noqa: E402
from omnichat.db.models import User  # noqa: E402
from omnichat.ids import new_id  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.scratch import scratch_database  # noqa: E402


def seed_chat(url: str, principal: Principal, n: int) -> str:
    """A chat whose branch is n messages long, written in bulk."""
    def work(db: Db) -> str:
        chat = service.create(db, principal, title=f"{n} messages")
        parent, rows, now = None, [], utcnow()
        for depth in range(n):
            mid = new_id()
            rows.append(vars(MessageRow(
                id=mid, chat_id=chat.id, parent_id=parent, depth=depth, role="user" if depth % 2 == 0 else "assistant",
                content=f"message {depth} " + "lorem ipsum " * 20, reasoning=None, model=None, status="complete",
                error=None, usage=None, client_message_id=None, created_at=now, updated_at=now)))
            parent = mid
        db.insert_many("messages", rows)
        db.execute("UPDATE chats SET current_leaf_id = ?, message_count = ? WHERE id = ?", parent, n, chat.id)
        return chat.id

    return lite.run(url, work)


def send_and_fetch(url: str, principal: Principal, chat_id: str, i: int) -> float:
    """One append (its own transaction, as a request) then the newest page (another)."""
    def append(db: Db) -> None:
        tree.append(db, service.get_owned(db, principal, chat_id), role="user", content=f"new message {i}",
                    client_message_id=f"bench-{i}")

    def fetch(db: Db) -> None:
        chat = service.get_owned(db, principal, chat_id)
        page = tree.branch_page(db, chat, limit=50)
        assert len(page.messages) == 50 or chat.message_count < 50

    start = time.perf_counter()
    lite.run(url, append)
    lite.run(url, fetch)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--large", type=int, default=10_000)
    args = parser.parse_args()

    server = os.environ.get("OMNICHAT_TEST_DATABASE_URL")
    kind = "postgresql" if server else "sqlite"
    with scratch_database(server) as url:
        migrate.upgrade(url)
        with db_engine.session_scope(url) as db:
            user = User(email="bench@example.com", password_hash="-", role="user")
            db.add(user)
            db.flush()
            principal = Principal(user.id, user.email, "user")
        small = seed_chat(url, principal, 10)
        large = seed_chat(url, principal, args.large)
        for i in range(20):  # warm-up: connections, statement caches
            send_and_fetch(url, principal, small, -i - 1)
            send_and_fetch(url, principal, large, -i - 1)
        small_ms, large_ms = [], []
        for i in range(args.iterations):  # interleaved, so drift hits both alike
            small_ms.append(send_and_fetch(url, principal, small, i))
            large_ms.append(send_and_fetch(url, principal, large, i))
    small, large = statistics.median(small_ms), statistics.median(large_ms)
    print(f"{kind}: append + newest page of 50, median of {args.iterations}: "
          f"10 messages {small:.2f} ms, {args.large} messages {large:.2f} ms")
    print(json.dumps({"db": kind, "small_ms": round(small, 3), "large_ms": round(large, 3),
                      "ratio": round(large / small, 3)}))


if __name__ == "__main__":
    main()

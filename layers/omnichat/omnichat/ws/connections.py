"""The `connections` table: the API Gateway WebSocket connections of each user, with the
credential each rides on. ws_connect registers one at `$connect`, ws_disconnect forgets it
at `$disconnect`. Plain SQL over `omnichat.db.lite`."""

from __future__ import annotations

from datetime import timedelta

from omnichat.auth import standing
from omnichat.db import lite
from omnichat.db.lite import Db, utcnow

# API Gateway ends every WebSocket connection after 2 hours: an older row is a connection
# whose $disconnect never arrived, and no longer counts against its user.
CONNECTION_MAX_AGE = timedelta(hours=2)
# The protocol versions a client may ask for with `v` at connect; no `v` means the first.
PROTOCOL_VERSIONS = ("1",)


def register(url: str, connection_id: str, user_id: str, endpoint: str, *,
             session_id: str | None = None, api_key_id: str | None = None,
             max_per_user: int | None = None) -> bool:
    """The connection and the credential it rides on; False (nothing registered) when its
    user already has `max_per_user` live connections. The user's row is locked first, so
    concurrent connects of one user are counted one at a time."""
    def work(db: Db) -> bool:
        now = utcnow()
        if max_per_user is not None:
            if db.execute("UPDATE users SET role = role WHERE id = ?", user_id).rowcount != 1:  # the lock
                raise standing.credential_gone(api_key_id is not None)  # deleted since its ticket
            db.execute("DELETE FROM connections WHERE user_id = ? AND connected_at <= ?",
                       user_id, now - CONNECTION_MAX_AGE)
            live = db.execute("SELECT count(*) FROM connections WHERE user_id = ? AND connection_id <> ?",
                              user_id, connection_id).fetchone()[0]
            if live >= max_per_user:
                return False
        db.insert("connections", {"connection_id": connection_id, "user_id": user_id, "endpoint": endpoint,
                                  "connected_at": now, "session_id": session_id, "api_key_id": api_key_id},
                  "ON CONFLICT (connection_id) DO UPDATE SET user_id = excluded.user_id, endpoint = excluded.endpoint,"
                  " session_id = excluded.session_id, api_key_id = excluded.api_key_id")
        return True

    return lite.run(url, work)


def forget(url: str, connection_id: str) -> None:
    """The connection and its stream subscriptions (the answers go on, and are saved)."""
    def work(db: Db) -> None:
        db.execute("DELETE FROM stream_subscribers WHERE connection_id = ?", connection_id)
        db.execute("DELETE FROM connections WHERE connection_id = ?", connection_id)

    lite.run(url, work)

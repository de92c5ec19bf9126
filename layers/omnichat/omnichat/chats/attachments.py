"""A message's documents as the chat path reads and writes them: a user message's
attachments (`message_files`) and collections (`message_collections`), and an answer's
sources (`message_sources`). Plain SQL over `omnichat.db.lite`; nothing here imports the
documents package (docs/documents.md), so a chat without documents pays one cheap query
at most (`scope_of`, when a question is answered again)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from omnichat.db.lite import Db

EXCERPT_CHARS = 300  # of a cited passage, in `sources`
_IN_BATCH = 500  # ids per IN (...) list


@dataclass(frozen=True)
class Scope:
    """What a question is answered over: its attached files (in order) and collections."""

    file_ids: tuple[str, ...] = ()
    collection_ids: tuple[str, ...] = ()
    image_ids: tuple[str, ...] = ()  # those of `file_ids` that are images

    def __bool__(self) -> bool:
        return bool(self.file_ids or self.collection_ids)


@dataclass(frozen=True)
class Source:
    """One passage an answer was given, numbered as the answer cites it (`[n]`)."""

    n: int
    file_id: str
    file_name: str
    page: int | None
    section: str | None
    chunk_id: str | None
    excerpt: str

    def json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Attachment:
    id: str
    name: str
    kind: str
    content_type: str | None
    size: int
    status: str

    def json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CollectionRef:
    """A collection selected for a user message (`#`, or its preset's), as the message shows it."""

    id: str
    name: str

    def json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Documents:
    """A page of messages' attachments, collections and sources, by message id."""

    attachments: dict[str, list[Attachment]] = field(default_factory=dict)
    sources: dict[str, list[Source]] = field(default_factory=dict)
    collections: dict[str, list[CollectionRef]] = field(default_factory=dict)


def link(db: Db, message_id: str, file_ids: Sequence[str], collection_ids: Sequence[str]) -> None:
    """Attach files (in the given order) and collections to a new user message."""
    for position, file_id in enumerate(file_ids):
        db.insert("message_files", {"message_id": message_id, "file_id": file_id, "position": position})
    for collection_id in collection_ids:
        db.insert("message_collections", {"message_id": message_id, "collection_id": collection_id})


def add_collections(db: Db, message_id: str, collection_ids: Sequence[str]) -> None:
    """Add collections to a saved user message's scope (those it has already stay once)."""
    for collection_id in collection_ids:
        db.insert("message_collections", {"message_id": message_id, "collection_id": collection_id},
                  "ON CONFLICT (message_id, collection_id) DO NOTHING")


def copy(db: Db, from_message_id: str, to_message_id: str) -> None:
    """An edited question keeps the original's attachments and collections."""
    db.execute("INSERT INTO message_files (message_id, file_id, position)"
               " SELECT ?, file_id, position FROM message_files WHERE message_id = ?", to_message_id, from_message_id)
    db.execute("INSERT INTO message_collections (message_id, collection_id)"
               " SELECT ?, collection_id FROM message_collections WHERE message_id = ?", to_message_id,
               from_message_id)


def scope_of(db: Db, message_id: str) -> Scope:
    """The attachments and collections a saved question was asked with (files deleted
    since are gone from it)."""
    files = db.execute("SELECT mf.file_id, f.kind FROM message_files mf JOIN files f ON f.id = mf.file_id"
                       " WHERE mf.message_id = ? ORDER BY mf.position", message_id).fetchall()
    collections = db.execute("SELECT collection_id FROM message_collections WHERE message_id = ?"
                             " ORDER BY collection_id", message_id).fetchall()
    return Scope(tuple(r[0] for r in files), tuple(r[0] for r in collections),
                 tuple(r[0] for r in files if r[1] == "image"))


def save_sources(db: Db, message_id: str, sources: Sequence[Source]) -> None:
    db.execute("DELETE FROM message_sources WHERE message_id = ?", message_id)
    for s in sources:
        db.insert("message_sources", {"message_id": message_id, "position": s.n, "file_id": s.file_id,
                                      "chunk_id": s.chunk_id, "file_name": s.file_name[:255], "page": s.page,
                                      "section": s.section[:500] if s.section else None, "excerpt": s.excerpt})


def sources_of(db: Db, message_id: str) -> list[Source]:
    return load(db, [message_id], attachments=False).sources.get(message_id, [])


def _batches(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i:i + _IN_BATCH] for i in range(0, len(unique), _IN_BATCH)]


def load(db: Db, message_ids: Sequence[str], *, attachments: bool = True, sources: bool = True,
         reader: str | None = None) -> Documents:
    """The attachments and sources of many messages in two queries (per 500 messages), and
    with a `reader` (a user id) the selected collections they may still read (one whose share
    was withdrawn since is left out, name and all), in a third."""
    readable = ""
    if reader is not None:
        from omnichat.documents import access  # plain strings (the REST API's reads, not the chat path)

        readable = access.readable("c.user_id", "c.id")
    out = Documents()
    for batch in _batches(message_ids):
        marks = ", ".join("?" * len(batch))
        if reader is not None:
            rows = db.execute("SELECT mc.message_id, c.id, c.name FROM message_collections mc"
                              f" JOIN collections c ON c.id = mc.collection_id WHERE mc.message_id IN ({marks})"
                              f" AND {readable} ORDER BY mc.message_id, lower(c.name), c.id",
                              *batch, reader, reader).fetchall()
            for r in rows:
                out.collections.setdefault(r[0], []).append(CollectionRef(r[1], r[2]))
        if attachments:
            rows = db.execute("SELECT mf.message_id, f.id, f.name, f.kind, f.content_type, f.size, f.status"
                              " FROM message_files mf JOIN files f ON f.id = mf.file_id"
                              f" WHERE mf.message_id IN ({marks}) ORDER BY mf.message_id, mf.position",
                              *batch).fetchall()
            for r in rows:
                out.attachments.setdefault(r[0], []).append(Attachment(r[1], r[2], r[3], r[4], int(r[5] or 0), r[6]))
        if sources:
            rows = db.execute("SELECT message_id, position, file_id, file_name, page, section, chunk_id, excerpt"
                              f" FROM message_sources WHERE message_id IN ({marks})"
                              " ORDER BY message_id, position", *batch).fetchall()
            for r in rows:
                out.sources.setdefault(r[0], []).append(Source(r[1], r[2], r[3], r[4], r[5], r[6], r[7]))
    return out


def load_chat(db: Db, chat_id: str) -> Documents:
    """Every attachment and source of one chat's messages (an export), in two queries."""
    out = Documents()
    rows = db.execute("SELECT mf.message_id, f.id, f.name, f.kind, f.content_type, f.size, f.status"
                      " FROM message_files mf JOIN files f ON f.id = mf.file_id"
                      " JOIN messages m ON m.id = mf.message_id WHERE m.chat_id = ?"
                      " ORDER BY mf.message_id, mf.position", chat_id).fetchall()
    for r in rows:
        out.attachments.setdefault(r[0], []).append(Attachment(r[1], r[2], r[3], r[4], int(r[5] or 0), r[6]))
    rows = db.execute("SELECT s.message_id, s.position, s.file_id, s.file_name, s.page, s.section, s.chunk_id,"
                      " s.excerpt FROM message_sources s JOIN messages m ON m.id = s.message_id"
                      " WHERE m.chat_id = ? ORDER BY s.message_id, s.position", chat_id).fetchall()
    for r in rows:
        out.sources.setdefault(r[0], []).append(Source(r[1], r[2], r[3], r[4], r[5], r[6], r[7]))
    return out

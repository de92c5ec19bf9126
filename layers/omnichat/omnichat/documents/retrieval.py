"""What a question sees of its documents (docs/documents.md, "Chat").

A question's scope is its attachments (the sender's own files, in order) and its
collections (their files). Sending checks the ids (`checked_scope`, in the send's
transaction: an unknown or foreign one is refused and nothing is saved). Answering
(`gather`, after the question is saved and acknowledged, before the model is called):

1. Readiness. Every attached file, and every collection file that is queued or indexing,
   must be `ready`. The answer waits up to `READY_WAIT_S`, polling; then it ends with the
   error `documents_not_ready` naming the files. An attached file that `failed` ends it
   with `document_failed`. A collection's failed files, and its files still `uploading`
   (not yet part of it), are left out; the rest of the collection is searched.
2. Passages, within `budget_chars` (chats/context.py takes them off the history's share):
   - an attached document whose whole text is at most `WHOLE_FILE_CHARS` goes whole (all
     its passages, in order) while the budget allows: a small file needs no search;
   - otherwise the question is embedded with the files' embedding model and the store
     searched (vectors and BM25, fused): the attachments' best `K` passages first, then the
     collections' best `K`;
   - passages are added in that order until the budget is spent.
3. The context block, put before the question in the last user turn:
   `Sources:\\n[1] <file> (page p / section s)\\n<text>\\n\\n[2] ...`, then an instruction to
   cite as [n]. The passages become the answer's `message_sources` (position n).
4. Images attached (kind `image`) go to the model as image blocks with the question, read
   from storage (the vision check was made when the question was sent).

numpy (store.py) is imported only here and only when a question has documents."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from omnichat.chats.attachments import EXCERPT_CHARS, Scope, Source, save_sources
from omnichat.config import Settings
from omnichat.db import lite
from omnichat.db.lite import Db
from omnichat.documents import access
from omnichat.providers.types import ChatRequest, ImageBlock, Message, TextBlock

MAX_ATTACHMENTS = 10
MAX_COLLECTIONS = 5
READY_WAIT_S = 5.0
POLL_S = 0.25
K = 8
WHOLE_FILE_CHARS = 4_000
INSTRUCTION = ("Answer the question below. Use the sources above where they help, and cite each source you use "
               "by its number in brackets, like [1].")
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


class Refused(Exception):
    """A scope that cannot be used: `code` is the WebSocket error code."""

    def __init__(self, code: str, message: str, **context: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.context = code, message, context


@dataclass(frozen=True)
class FileState:
    id: str
    name: str
    kind: str
    status: str
    error: str | None
    content_type: str | None
    storage_key: str
    embed_model: str | None
    attached: bool  # else: a file of a selected collection


@dataclass(frozen=True)
class Passage:
    """A chunk given to the model (a whole small file's, or a search hit's)."""

    chunk_id: str
    file_id: str
    text: str
    page: int | None
    section: str | None


@dataclass
class Found:
    """What the question is given: the block's text, the images and the numbered sources."""

    block: str
    images: list[ImageBlock]
    sources: list[Source]


# ---- sending --------------------------------------------------------------------------------
def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


READABLE = access.readable("c.user_id", "c.id")


def readable_collections(db: Db, user_id: str, collection_ids: Sequence[str]) -> set[str]:
    """Those of `collection_ids` the user owns or may read through a group
    (documents/access.py: the rule the REST API applies too)."""
    if not collection_ids:
        return set()
    rows = db.execute(f"SELECT c.id FROM collections c WHERE c.id IN ({_marks(collection_ids)}) AND {READABLE}",
                      *collection_ids, user_id, user_id).fetchall()
    return {r[0] for r in rows}


def checked_scope(db: Db, user_id: str, file_ids: Sequence[str], collection_ids: Sequence[str]) -> Scope:
    """The scope of a new question, or Refused (`file_not_found`, `collection_not_found`):
    attachments must be the sender's own files, collections readable by them."""
    kinds: dict[str, str] = {}
    if file_ids:
        rows = db.execute(f"SELECT id, kind FROM files WHERE id IN ({_marks(file_ids)}) AND user_id = ?",
                          *file_ids, user_id).fetchall()
        kinds = {r[0]: r[1] for r in rows}
    missing = [f for f in file_ids if f not in kinds]
    if missing:
        raise Refused("file_not_found", f"No such file: {', '.join(missing)}", files=missing)
    readable = readable_collections(db, user_id, collection_ids)
    unknown = [c for c in collection_ids if c not in readable]
    if unknown:
        raise Refused("collection_not_found", f"No such collection: {', '.join(unknown)}", collections=unknown)
    return Scope(tuple(file_ids), tuple(collection_ids), tuple(f for f in file_ids if kinds[f] == "image"))


# ---- answering ------------------------------------------------------------------------------
_COLUMNS = "f.id, f.name, f.kind, f.status, f.error, f.content_type, f.storage_key, f.embed_model"


def _states(db: Db, user_id: str, scope: Scope) -> list[FileState]:
    out: list[FileState] = []
    if scope.file_ids:
        rows = {r[0]: r for r in db.execute(f"SELECT {_COLUMNS} FROM files f WHERE f.id IN ({_marks(scope.file_ids)})",
                                            *scope.file_ids).fetchall()}
        out += [FileState(*rows[f], attached=True) for f in scope.file_ids if f in rows]  # type: ignore[misc]
    # A collection whose share was withdrawn since the question was asked is no longer read.
    readable = sorted(readable_collections(db, user_id, scope.collection_ids))
    if readable:
        seen = {f.id for f in out}
        rows = db.execute(f"SELECT {_COLUMNS} FROM files f WHERE f.collection_id IN ({_marks(readable)})"
                          " ORDER BY f.created_at, f.id", *readable).fetchall()
        out += [FileState(*r, attached=False) for r in rows if r[0] not in seen]  # type: ignore[misc]
    return out


def _names(files: Sequence[FileState]) -> str:
    return ", ".join(f.name for f in files)


async def ready_files(url: str, user_id: str, scope: Scope, wait_s: float | None = None) -> list[FileState]:
    """The scope's usable files once none is pending, or Refused."""
    deadline = time.monotonic() + (READY_WAIT_S if wait_s is None else wait_s)
    while True:
        files = await asyncio.to_thread(lite.run, url, lambda db: _states(db, user_id, scope))
        failed = [f for f in files if f.attached and f.status == "failed"]
        if failed:
            why = "; ".join(f"{f.name}: {f.error}" if f.error else f.name for f in failed)
            raise Refused("document_failed", f"An attached file could not be read ({why}). Remove it or attach "
                          "it again.", files=[f.id for f in failed])
        pending = [f for f in files if f.status not in ("ready", "failed") and (f.attached or f.status != "uploading")]
        if not pending:
            return [f for f in files if f.status == "ready"]
        if time.monotonic() >= deadline:
            raise Refused("documents_not_ready", f"Still being prepared: {_names(pending)}. Ask again when they are "
                          "ready.", files=[f.id for f in pending])
        await asyncio.sleep(POLL_S)


def _whole(db: Db, files: Sequence[FileState], budget: int) -> dict[str, list[Passage]]:
    """The small attached documents that go whole: file id -> its chunks in order."""
    ids = [f.id for f in files]
    if not ids:
        return {}
    sizes = dict(db.execute(f"SELECT file_id, SUM(LENGTH(text)) FROM chunks WHERE file_id IN ({_marks(ids)})"
                            " GROUP BY file_id", *ids).fetchall())
    chosen, used = [], 0
    for f in ids:
        size = int(sizes.get(f) or 0)
        if 0 < size <= WHOLE_FILE_CHARS and used + size <= budget // 2:
            chosen.append(f)
            used += size
    if not chosen:
        return {}
    out: dict[str, list[Passage]] = {}
    for row in db.execute(f"SELECT id, file_id, text, page, section FROM chunks WHERE file_id IN"
                          f" ({_marks(chosen)}) ORDER BY file_id, ordinal", *chosen).fetchall():
        out.setdefault(row[1], []).append(Passage(row[0], row[1], row[2], row[3], row[4]))
    return out


async def _search(settings: Settings, url: str, files: Sequence[FileState], question: str) -> list[Passage]:
    """The best `K` passages of `files` (embedded per embedding model), best first."""
    if not files:
        return []
    from omnichat.documents.embedder import aembed
    from omnichat.documents.store import store_for

    store = store_for(settings)
    by_model: dict[str, list[str]] = {}
    for f in files:
        by_model.setdefault(f.embed_model or settings.embed_model, []).append(f.id)
    hits: list[Any] = []
    for model, ids in by_model.items():
        vector = (await aembed(settings, [question], model))[0]
        hits += await asyncio.to_thread(lite.run, url, lambda db, ids=ids, v=vector: store.search(db, ids, question,
                                                                                                  v, k=K))
    hits.sort(key=lambda h: -h.score)
    return [Passage(h.chunk_id, h.file_id, h.text, h.page, h.section) for h in hits[:K]]


def _where(page: int | None, section: str | None) -> str:
    parts = ([f"page {page}"] if page is not None else []) + ([f"section {section}"] if section else [])
    return f" ({' / '.join(parts)})" if parts else ""


async def gather(settings: Settings, url: str, user_id: str, answer_id: str, question: str, scope: Scope,
                 budget_chars: int) -> Found:
    """The passages and images a question is answered with (saved as the answer's sources),
    or Refused. ProviderError when the question cannot be embedded."""
    files = await ready_files(url, user_id, scope)
    names = {f.id: f.name for f in files}
    documents = [f for f in files if f.kind != "image"]
    attached = [f for f in documents if f.attached]
    whole = await asyncio.to_thread(lite.run, url, lambda db: _whole(db, attached, budget_chars))
    passages = [p for f in attached for p in whole.get(f.id, [])]
    passages += await _search(settings, url, [f for f in attached if f.id not in whole], question)
    passages += await _search(settings, url, [f for f in documents if not f.attached], question)
    sources: list[Source] = []
    entries: list[str] = []
    used, seen = 0, set()
    for p in passages:
        chunk_id, file_id, text, page, section = p.chunk_id, p.file_id, p.text, p.page, p.section
        if chunk_id in seen:
            continue
        n = len(sources) + 1
        entry = f"[{n}] {names.get(file_id, file_id)}{_where(page, section)}\n{text.strip()}"
        if used + len(entry) > budget_chars:
            if sources:
                continue  # a smaller passage further down may still fit
            entry = entry[:budget_chars]
        seen.add(chunk_id)
        used += len(entry) + 2
        entries.append(entry)
        sources.append(Source(n, file_id, names.get(file_id, file_id), page, section, chunk_id,
                              text.strip()[:EXCERPT_CHARS]))
    images = await asyncio.to_thread(_images, settings, [f for f in files if f.kind == "image" and f.attached])
    await asyncio.to_thread(lite.run, url, lambda db: save_sources(db, answer_id, sources))
    block = "Sources:\n" + "\n\n".join(entries) + "\n\n" + INSTRUCTION if entries else ""
    return Found(block, images, sources)


def _images(settings: Settings, files: Sequence[FileState]) -> list[ImageBlock]:
    if not files:
        return []
    from omnichat.documents.storage import storage_for

    storage = storage_for(settings)
    out = []
    for f in files:
        fmt = IMAGE_FORMATS.get((f.content_type or "").lower())
        if fmt is None:
            raise Refused("document_failed", f"{f.name} is not an image a model can read (PNG, JPEG, GIF or WebP)",
                          files=[f.id])
        try:
            data = storage.get(f.storage_key)
        except Exception:
            raise Refused("document_failed", f"{f.name} could not be read from storage; attach it again",
                          files=[f.id]) from None
        out.append(ImageBlock(data=data, format=fmt))  # type: ignore[arg-type]
    return out


def apply(request: ChatRequest, found: Found) -> ChatRequest:
    """The request with the sources before the question and the images beside it."""
    if not found.block and not found.images:
        return request
    messages = list(request.messages)
    last = messages[-1] if messages and messages[-1].role == "user" else None
    question = last.plain_text if last else ""
    text = f"{found.block}\n\n{question}" if found.block else question
    turn = Message(role="user", content=(TextBlock(text), *found.images))
    if last is not None:
        messages[-1] = turn
    else:
        messages.append(turn)
    return replace(request, messages=tuple(messages))

"""The vector store: the one small interface a deployment can swap (`VectorStore`), and its
implementation over the database (`DatabaseStore`). docs/documents.md, "The vector store",
says why and what it costs.

`DatabaseStore` keeps each chunk's vector in `chunks.embedding` (float32 little-endian,
unit length). A search ranks the chunks of its scope (the files a question may see) twice,
by exact cosine similarity to the query's vector (numpy, one matrix product) and by BM25
over their texts (bm25.py), and fuses the two rankings by reciprocal rank fusion (k=60).
Loading a scope's vectors and building its keyword index costs seconds at 100,000 chunks,
so both are kept in a per-process cache (`ScopeCache`), LRU, bounded by memory. An entry
is valid while the scope's files keep their `chunk_count` and `updated_at`, which `add` and
`delete_file` set: a re-index or a delete in any process is seen by every other one.

numpy is imported here (and in bm25.py) only: nothing on a chat's hot path imports this
module at load time; it is loaded when a chat uses documents.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
from omnichat.ids import new_id

from .bm25 import Bm25Index, fuse, top

RRF_K = 60
CANDIDATES = 50  # how deep each ranking goes into the fusion (at least 4 k)
DEFAULT_CACHE_MB = 1024
_IN_BATCH = 500  # ids per IN (...) list
FloatArray = npt.NDArray[np.float32]


class Passage(Protocol):
    """What `add` takes: chunking.py's Chunk, or a `ChunkIn`."""

    @property
    def ordinal(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def page(self) -> int | None: ...
    @property
    def section(self) -> str | None: ...


@dataclass(frozen=True)
class ChunkIn:
    ordinal: int
    text: str
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    file_id: str
    ordinal: int
    text: str
    page: int | None
    section: str | None
    score: float  # the fused score: a sum of 1 / (60 + rank), higher is better


class VectorStore(Protocol):
    def add(self, db: Db, file_id: str, chunks: Sequence[Passage], vectors: Sequence[Sequence[float]]) -> None:
        """Store a file's chunks with their vectors (one each, in order), in `db`'s transaction."""
        ...

    def delete_file(self, db: Db, file_id: str) -> None:
        """Remove every chunk of the file."""
        ...

    def search(self, db: Db, file_ids: Sequence[str], query: str, vector: Sequence[float] | None,
               k: int = 8) -> list[Hit]:
        """The `k` best chunks of `file_ids` for `query` (and its `vector`, if any), best first."""
        ...


def pack(vector: Sequence[float]) -> bytes:
    """A vector as `chunks.embedding` holds it: unit length, float32 little-endian."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return (array / norm if norm > 0 else array).astype("<f4").tobytes()


def unpack(data: bytes) -> FloatArray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


# ---------------------------------------------------------------------------- the cache
@dataclass
class Scope:
    """A scope's searchable state: row i is chunk `ids[i]` of file `files[file_index[i]]`."""

    version: tuple[Any, ...]
    ids: list[str]
    file_index: npt.NDArray[np.int32]
    files: list[str]
    matrix: FloatArray | None  # unit vectors, one row per chunk; None when no chunk has one
    has_vector: npt.NDArray[np.bool_] | None  # None: every row has one of the matrix's size
    keywords: Bm25Index

    @property
    def nbytes(self) -> int:
        rows = len(self.ids) * 100 + self.file_index.nbytes  # an id string ~ 85 bytes, its list slot 8
        vectors = 0 if self.matrix is None else self.matrix.nbytes
        return rows + vectors + self.keywords.nbytes + (0 if self.has_vector is None else self.has_vector.nbytes)


class ScopeCache:
    """Scopes by their sorted file ids, least recently used evicted beyond `max_bytes` (the
    newest entry stays even if it alone is larger: rebuilding on every query would be worse)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, ...], Scope] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[str, ...], threading.Lock] = {}

    def get(self, key: tuple[str, ...], version: tuple[Any, ...]) -> Scope | None:
        with self._lock:
            scope = self._entries.get(key)
            if scope is None or scope.version != version:
                return None
            self._entries.move_to_end(key)
            return scope

    def put(self, key: tuple[str, ...], scope: Scope) -> None:
        with self._lock:
            self._entries[key] = scope
            self._entries.move_to_end(key)
            total = sum(s.nbytes for s in self._entries.values())
            while total > self.max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                total -= evicted.nbytes

    def build_lock(self, key: tuple[str, ...]) -> threading.Lock:
        """One builder per scope at a time: the others wait for its result."""
        with self._lock:
            return self._building.setdefault(key, threading.Lock())

    def forget_file(self, file_id: str) -> None:
        with self._lock:
            for key in [key for key in self._entries if file_id in key]:
                del self._entries[key]
                self._building.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._building.clear()

    def keys(self) -> list[tuple[str, ...]]:
        """The cached scopes, least recently used first."""
        with self._lock:
            return list(self._entries)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(s.nbytes for s in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


# ---------------------------------------------------------------------------- the store
class DatabaseStore:
    """Vectors in `chunks.embedding`, exact search over the scope, BM25, fused."""

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_MB << 20) -> None:
        self.cache = ScopeCache(cache_bytes)

    def add(self, db: Db, file_id: str, chunks: Sequence[Passage], vectors: Sequence[Sequence[float]]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        rows = [{"id": new_id(), "file_id": file_id, "ordinal": c.ordinal, "text": c.text, "page": c.page,
                 "section": c.section, "embedding": pack(v)} for c, v in zip(chunks, vectors, strict=True)]
        if rows:
            db.insert_many("chunks", rows, batch=100)
        self._touch(db, file_id)

    def delete_file(self, db: Db, file_id: str) -> None:
        db.execute("DELETE FROM chunks WHERE file_id = ?", file_id)
        self._touch(db, file_id)

    def _touch(self, db: Db, file_id: str) -> None:
        """The file's chunk count and time: the version every process's cache checks."""
        db.execute("UPDATE files SET chunk_count = (SELECT COUNT(*) FROM chunks WHERE file_id = ?), updated_at = ?"
                   " WHERE id = ?", file_id, utcnow(), file_id)
        self.cache.forget_file(file_id)

    def search(self, db: Db, file_ids: Sequence[str], query: str, vector: Sequence[float] | None,
               k: int = 8) -> list[Hit]:
        if k <= 0 or not file_ids:
            return []
        scope = self.scope(db, file_ids)
        if not scope.ids:
            return []
        depth = max(CANDIDATES, 4 * k)
        rankings = [top(scope.keywords.scores(query), depth, positive=True)]
        similarities = self._similarities(scope, vector)
        if similarities is not None:
            rankings.append(top(similarities, depth))
        best = fuse(rankings, RRF_K)[:k]
        return self._hits(db, scope, best)

    def scope(self, db: Db, file_ids: Sequence[str]) -> Scope:
        """The scope's searchable state, from the cache while its files are unchanged."""
        key = tuple(sorted(set(file_ids)))
        version = self._version(db, key)
        scope = self.cache.get(key, version)
        if scope is not None:
            return scope
        with self.cache.build_lock(key):
            scope = self.cache.get(key, version)  # another thread may have built it meanwhile
            if scope is None:
                scope = _load(db, key, version)
                self.cache.put(key, scope)
        return scope

    @staticmethod
    def _version(db: Db, key: tuple[str, ...]) -> tuple[Any, ...]:
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(key), _IN_BATCH):
            ids = key[start:start + _IN_BATCH]
            found += db.execute(f"SELECT id, chunk_count, updated_at FROM files WHERE id IN ({_marks(ids)})",
                                *ids).fetchall()
        return tuple(sorted((str(i), int(n or 0), str(at)) for i, n, at in found))

    @staticmethod
    def _similarities(scope: Scope, vector: Sequence[float] | None) -> FloatArray | None:
        if vector is None or scope.matrix is None or len(vector) != scope.matrix.shape[1]:
            return None  # no vector, or one of another model (its size differs): keywords alone
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if norm == 0:
            return None
        similarities: FloatArray = scope.matrix @ (query / norm)
        if scope.has_vector is not None:
            similarities[~scope.has_vector] = -np.inf
        return similarities

    @staticmethod
    def _hits(db: Db, scope: Scope, best: list[tuple[int, float]]) -> list[Hit]:
        if not best:
            return []
        ids = [scope.ids[i] for i, _ in best]
        rows = {r[0]: r for r in db.execute(
            f"SELECT id, file_id, ordinal, text, page, section FROM chunks WHERE id IN ({_marks(ids)})", *ids)}
        return [Hit(chunk_id=r[0], file_id=r[1], ordinal=int(r[2]), text=r[3], page=r[4], section=r[5], score=score)
                for (i, score) in best if (r := rows.get(scope.ids[i])) is not None]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _load(db: Db, key: tuple[str, ...], version: tuple[Any, ...]) -> Scope:
    """Read the scope's chunks (ids, texts, vectors) and build its matrix and BM25 index."""
    files = list(key)
    position = {f: n for n, f in enumerate(files)}
    ids: list[str] = []
    file_index: list[int] = []
    texts: list[str] = []
    blobs: list[bytes | None] = []
    for start in range(0, len(key), _IN_BATCH):
        batch = key[start:start + _IN_BATCH]
        for chunk_id, file_id, text, blob in db.execute(
                f"SELECT id, file_id, text, embedding FROM chunks WHERE file_id IN ({_marks(batch)})"
                " ORDER BY file_id, ordinal", *batch):
            ids.append(chunk_id)
            file_index.append(position[file_id])
            texts.append(text)
            blobs.append(bytes(blob) if blob is not None else None)
    matrix, has_vector = _matrix(blobs)
    keywords = Bm25Index(texts)
    return Scope(version=version, ids=ids, file_index=np.asarray(file_index, dtype=np.int32), files=files,
                 matrix=matrix, has_vector=has_vector, keywords=keywords)


def _matrix(blobs: list[bytes | None]) -> tuple[FloatArray | None, npt.NDArray[np.bool_] | None]:
    """The rows' vectors as one matrix: its width is the most common vector size; a chunk
    without a vector, or with one of another size (another model), gets a zero row, masked."""
    sizes: dict[int, int] = {}
    for blob in blobs:
        if blob:
            sizes[len(blob)] = sizes.get(len(blob), 0) + 1
    if not sizes:
        return None, None
    width = max(sizes, key=lambda size: (sizes[size], size))
    zero = bytes(width)
    valid = [blob is not None and len(blob) == width for blob in blobs]
    joined = b"".join(blob if ok and blob is not None else zero for blob, ok in zip(blobs, valid, strict=True))
    # Read-only, over the joined bytes (no second copy); "<f4" is float32 on every host we run on.
    matrix: FloatArray = np.frombuffer(joined, dtype="<f4").reshape(len(blobs), width // 4)
    return matrix, None if all(valid) else np.asarray(valid, dtype=np.bool_)


# ---------------------------------------------------------------------------- configuration
_stores: dict[int, DatabaseStore] = {}
_stores_lock = threading.Lock()


def store_for(settings: Settings) -> VectorStore:
    """The configured store, one per process (its cache is shared by every request): the
    database store, its cache bounded by OMNICHAT_VECTOR_CACHE_MB (default 1024)."""
    cache_mb = settings.vector_cache_mb
    with _stores_lock:
        store = _stores.get(cache_mb)
        if store is None:
            store = _stores[cache_mb] = DatabaseStore(cache_mb << 20)
        return store

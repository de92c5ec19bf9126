"""The vector store (documents/store.py), BM25 (bm25.py) and the embedder client
(embedder.py): hybrid search finds a passage by a rare exact keyword and by meaning, never
leaves its scope, forgets a deleted file (in this process and, through the files' version,
in another), fuses deterministically; on SQLite and PostgreSQL. The embedder talks to the
shared deterministic Ollama-compatible server."""

from __future__ import annotations

import numpy as np
import pytest

from omnichat.db import lite
from omnichat.documents import bm25, embedder
from omnichat.documents.store import ChunkIn, DatabaseStore, Hit, pack, store_for, unpack
from omnichat.ids import new_id

DIM = 16
FILLER = ("The quarterly report covers revenue, staffing and the office move. Figures are preliminary "
          "and subject to review by the finance committee before publication.")


def topic(n: int, noise: float = 0.0, seed: int = 0) -> list[float]:
    """A unit vector near axis `n` (a 'meaning'), with a little noise."""
    v = np.zeros(DIM)
    v[n] = 1.0
    v += noise * np.random.default_rng(seed).standard_normal(DIM)
    return list(v / np.linalg.norm(v))


def new_file(db: lite.Db, user_id: str, name: str = "doc.txt") -> str:
    file_id = new_id()
    db.insert("files", {"id": file_id, "user_id": user_id, "name": name, "storage_key": f"k/{file_id}",
                        "status": "ready", "created_at": lite.utcnow(), "updated_at": lite.utcnow()})
    return file_id


def fill(db_url: str, store: DatabaseStore, user_id: str, passages: list[tuple[str, list[float]]],
         name: str = "doc.txt") -> str:
    def work(db: lite.Db) -> str:
        file_id = new_file(db, user_id, name)
        store.add(db, file_id, [ChunkIn(i, text, page=i + 1, section=f"S{i}") for i, (text, _) in enumerate(passages)],
                  [v for _, v in passages])
        return file_id
    return lite.run(db_url, work)


def search(db_url: str, store: DatabaseStore, file_ids: list[str], query: str, vector: list[float] | None,
           k: int = 8) -> list[Hit]:
    return lite.run(db_url, lambda db: store.search(db, file_ids, query, vector, k))


def filler(n: int, seed: int = 1) -> list[tuple[str, list[float]]]:
    return [(f"{FILLER} Item {i}.", topic(i % 4 + 4, noise=0.3, seed=seed * 1000 + i)) for i in range(n)]


# ---------------------------------------------------------------------------- hybrid search
def test_a_rare_exact_keyword_finds_its_passage(db_url, user_id):
    store = DatabaseStore()
    passages = filler(120)
    passages[77] = ("If the pump shows fault XK-4471, close valve 3 before restarting.", topic(5, 0.3, 99))
    file_id = fill(db_url, store, user_id, passages)
    hits = search(db_url, store, [file_id], "what does XK-4471 mean?", topic(0))  # the vector points elsewhere
    assert hits[0].ordinal == 77 and "XK-4471" in hits[0].text
    assert (hits[0].page, hits[0].section, hits[0].file_id) == (78, "S77", file_id)
    assert len(hits) == 8 and all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_meaning_finds_a_passage_that_shares_no_word_with_the_question(db_url, user_id):
    store = DatabaseStore()
    passages = filler(60)
    passages[31] = ("Cats sleep up to sixteen hours a day.", topic(2, 0.05, 7))
    file_id = fill(db_url, store, user_id, passages)
    hits = search(db_url, store, [file_id], "how long do felines doze", topic(2))
    assert hits[0].ordinal == 31
    # Keywords alone (no vector): nothing in the text matches, so nothing comes back.
    assert search(db_url, store, [file_id], "how long do felines doze", None) == []


def test_both_rankings_agreeing_beat_either_alone(db_url, user_id):
    store = DatabaseStore()
    passages = filler(40)
    passages[3] = ("Invoice approval needs two signatures.", topic(1, 0.1, 3))  # keyword only
    passages[9] = ("Unrelated words entirely here.", topic(3, 0.0))  # vector only
    passages[20] = ("Invoice approval rules for managers.", topic(3, 0.05, 5))  # both
    file_id = fill(db_url, store, user_id, passages)
    hits = search(db_url, store, [file_id], "invoice approval", topic(3))
    assert hits[0].ordinal == 20
    assert {h.ordinal for h in hits[:3]} == {3, 9, 20}


def test_the_scope_is_respected(db_url, user_id):
    store = DatabaseStore()
    mine = fill(db_url, store, user_id, filler(30), "mine.txt")
    other = fill(db_url, store, user_id, [("Secret launch code ZEBRA-9 for the other project.", topic(6))] * 3,
                 "other.txt")
    hits = search(db_url, store, [mine], "secret launch code ZEBRA-9", topic(6), k=50)
    assert hits and {h.file_id for h in hits} == {mine}
    both = search(db_url, store, [mine, other], "secret launch code ZEBRA-9", topic(6), k=3)
    assert {h.file_id for h in both} == {other}
    assert search(db_url, store, [new_id()], "anything", topic(6)) == []  # no such file: nothing
    assert search(db_url, store, [], "anything", topic(6)) == []


def test_delete_file_removes_its_chunks_and_the_cached_scope(db_url, user_id):
    store = DatabaseStore()
    file_id = fill(db_url, store, user_id, filler(20))
    assert search(db_url, store, [file_id], "quarterly report", topic(4))
    assert len(store.cache) == 1
    lite.run(db_url, lambda db: store.delete_file(db, file_id))
    assert len(store.cache) == 0
    assert search(db_url, store, [file_id], "quarterly report", topic(4)) == []

    def counts(db: lite.Db) -> tuple[int, int]:
        chunks = db.execute("SELECT COUNT(*) FROM chunks WHERE file_id = ?", file_id).fetchone()[0]
        return int(chunks), int(db.execute("SELECT chunk_count FROM files WHERE id = ?", file_id).fetchone()[0])
    assert lite.run(db_url, counts) == (0, 0)


def test_a_reindex_by_another_process_invalidates_this_ones_cache(db_url, user_id):
    """Two stores stand for two processes: the indexer's changes reach the other's cache
    through the file's chunk_count and updated_at."""
    reader, indexer = DatabaseStore(), DatabaseStore()
    file_id = fill(db_url, indexer, user_id, filler(10))
    assert search(db_url, reader, [file_id], "walrus", None) == []
    assert len(reader.cache) == 1

    def reindex(db: lite.Db) -> None:
        indexer.delete_file(db, file_id)
        indexer.add(db, file_id, [ChunkIn(0, "A walrus basks on the ice floe.")], [topic(0)])
    lite.run(db_url, reindex)
    hits = search(db_url, reader, [file_id], "walrus", None)
    assert [h.text for h in hits] == ["A walrus basks on the ice floe."]
    count = lite.run(db_url, lambda db: db.execute("SELECT chunk_count FROM files WHERE id = ?", file_id).fetchone())
    assert count[0] == 1


def test_fusion_order_is_deterministic(db_url, user_id):
    store = DatabaseStore()
    same = [(f"{FILLER}", topic(4)) for _ in range(30)]  # identical chunks: every score ties
    file_id = fill(db_url, store, user_id, same)
    first = search(db_url, store, [file_id], "quarterly report", topic(4), k=10)
    again = search(db_url, store, [file_id], "quarterly report", topic(4), k=10)
    cold = search(db_url, DatabaseStore(), [file_id], "quarterly report", topic(4), k=10)
    assert first == again == cold
    assert [h.ordinal for h in first] == list(range(10))  # ties go to the chunk that comes first


def test_a_vector_of_another_size_falls_back_to_keywords(db_url, user_id):
    store = DatabaseStore()
    file_id = fill(db_url, store, user_id, filler(10) + [("The walrus file.", topic(0))])
    hits = search(db_url, store, [file_id], "walrus", [0.5] * (DIM + 3))
    assert [h.ordinal for h in hits] == [10]


def test_chunks_without_a_vector_are_found_by_keywords_only(db_url, user_id):
    store = DatabaseStore()
    file_id = fill(db_url, store, user_id, filler(5))
    lite.run(db_url, lambda db: db.execute("UPDATE chunks SET embedding = NULL WHERE file_id = ? AND ordinal = 2",
                                           file_id))
    lite.run(db_url, lambda db: store.add(db, file_id, [ChunkIn(9, "walrus notes")], [topic(4)]))  # new version
    hits = search(db_url, store, [file_id], "walrus", topic(4), k=10)
    assert hits[0].ordinal == 9 and len(hits) == 5  # 2 is no vector's hit, and no keyword's
    assert 2 not in {h.ordinal for h in hits}


def test_vectors_are_stored_as_unit_float32_little_endian(db_url, user_id):
    store = DatabaseStore()
    file_id = fill(db_url, store, user_id, [("x", [3.0, 4.0])])
    blob = lite.run(db_url, lambda db: db.execute("SELECT embedding FROM chunks WHERE file_id = ?",
                                                  file_id).fetchone()[0])
    assert bytes(blob) == pack([0.6, 0.8]) == np.asarray([0.6, 0.8], dtype="<f4").tobytes()
    assert unpack(bytes(blob)).tolist() == pytest.approx([0.6, 0.8])


def test_add_checks_one_vector_per_chunk(db_url, user_id):
    store = DatabaseStore()
    file_id = fill(db_url, store, user_id, [])  # nothing to add is fine
    with pytest.raises(ValueError, match="1 chunks but 0 vectors"):
        lite.run(db_url, lambda db: store.add(db, file_id, [ChunkIn(0, "a")], []))


def test_the_cache_is_bounded_by_memory(db_url, user_id):
    store = DatabaseStore(cache_bytes=1)  # keeps only the newest scope
    a = fill(db_url, store, user_id, filler(5))
    b = fill(db_url, store, user_id, filler(5, seed=2))
    search(db_url, store, [a], "report", None)
    search(db_url, store, [b], "report", None)
    assert store.cache.keys() == [(b,)]


def test_store_for_is_one_store_per_process(settings):
    assert store_for(settings) is store_for(settings)


# ---------------------------------------------------------------------------- BM25 and fusion
def test_tokens_are_lower_case_unicode_words_without_stop_words():
    assert bm25.tokens("The Straße to Zürich, and ERR_42-b!") == ["straße", "zürich", "err_42", "b"]


def test_bm25_prefers_the_rarer_term_and_the_shorter_passage():
    index = bm25.Bm25Index(["apple banana", "apple", "apple cherry", "banana " * 3 + "filler " * 20, ""])
    scores = index.scores("apple cherry")
    assert int(np.argmax(scores)) == 2 and scores[4] == 0
    assert bm25.top(index.scores("banana"), 5, positive=True) == [0, 3]
    assert index.scores("nothing here").sum() == 0


def test_rrf_sums_reciprocal_ranks_and_breaks_ties_by_item():
    fused = bm25.fuse([[5, 1, 2], [1, 5, 7]], k=60)
    assert [item for item, _ in fused] == [1, 5, 2, 7]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert bm25.top(np.asarray([0.5, 0.9, 0.9, 0.1], dtype=np.float32), 2) == [1, 2]


# ---------------------------------------------------------------------------- the embedder
def test_embedder_returns_unit_vectors_in_order_in_batches(settings, ollama_server):
    from local.ollama.testmodel import expected_embedding

    live = settings.with_overrides(ollama_host=ollama_server.url, embed_model="ollama/omnichat-test:latest")
    texts = [f"passage number {i} about walruses" for i in range(embedder.BATCH * 2 + 3)] + [""]
    vectors = embedder.embed(live, texts)
    assert len(vectors) == len(texts)
    assert all(abs(np.linalg.norm(v) - 1) < 1e-6 for v in vectors[:-1])
    assert vectors[40] == pytest.approx(expected_embedding(texts[40]), abs=1e-6)
    long = "word " * 10_000
    assert embedder.embed(live, [long])[0] == pytest.approx(expected_embedding(long[:embedder.MAX_CHARS]), abs=1e-6)
    assert embedder.embed(live, []) == []


def test_embedder_works_from_a_running_event_loop(settings, ollama_server):
    import asyncio

    live = settings.with_overrides(ollama_host=ollama_server.url, embed_model="ollama/omnichat-test:latest")

    async def inside() -> tuple[int, int]:
        return len(embedder.embed(live, ["from a loop"])), len(await embedder.aembed(live, ["awaited"]))
    assert asyncio.run(inside()) == (1, 1)


def test_embedder_errors_are_the_providers_typed_errors(settings, ollama_server):
    from omnichat.providers.errors import ModelNotFound, ProviderUnavailable

    with pytest.raises(ProviderUnavailable):  # the settings' Ollama is a closed port
        embedder.embed(settings, ["x"], "ollama/omnichat-test:latest")
    with pytest.raises(ModelNotFound):
        embedder.embed(settings.with_overrides(ollama_host=ollama_server.url), ["x"], "ollama/no-such-model:1")

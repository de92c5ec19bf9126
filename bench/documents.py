"""Documents: how fast are files indexed, and how fast is a question's hybrid search over a
scope of 100,000 chunks?

1. Ingestion: a deterministic corpus of PDFs (`--pages` pages, 50 a file) goes through
   documents/ingest.py's `index_file` (read, extract, chunk, embed, store) one file after
   another, with the embedding model served by the bundled Ollama-compatible server (a
   separate process, loopback, a free port): `all-minilm:l6-v2` when it is installed
   (`python -m local.models fetch`), else the deterministic test model. `pages_per_s`.
2. Retrieval: synthetic chunks (real-looking text, random unit vectors of the model's size)
   are added through `store.add` until the index holds `--chunks`; every file is one scope.
   Top-8 hybrid search (documents/store.py) for questions whose vectors are made first
   (excluded): the cold first query (the scope's matrix and BM25 index built), then warm
   p50/p95; and p95 with the question's embedding included.

    .venv/bin/python bench/documents.py [--pages 2000] [--chunks 100000] [--queries 200]
        [--embedder auto|minilm|deterministic] [--database-url postgresql+pg8000://...]

SQLite by default (a scratch file); `--database-url` names a PostgreSQL server on which a
scratch database is made and dropped. Last line: {"db", "embed_model", "pages",
"pages_per_s", "chunks", "retrieve_cold_ms", "retrieve_p50_ms", "retrieve_p95_ms",
"retrieve_with_embed_p95_ms", "cache_mb", ...}; goals: pages_per_s >= 20, retrieve_p95_ms
<= 100 at 100,000 chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "omnichat")]

import numpy as np  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from local.serve import free_port, start_process  # noqa: E402
from omnichat.config import Settings  # noqa: E402
from omnichat.db import lite, migrate  # noqa: E402
from omnichat.documents import embedder, ingest  # noqa: E402
from omnichat.documents.storage import LocalStorage, object_key  # noqa: E402
from omnichat.documents.store import ChunkIn, DatabaseStore  # noqa: E402
from omnichat.ids import new_id  # noqa: E402

PAGES_PER_FILE = 50
SYNTHETIC_PER_FILE = 1000
MODELS_DIR = Path(os.environ.get("OMNICHAT_MODELS_DIR") or ROOT / ".omnichat" / "models")
MINILM, TEST_MODEL = "all-minilm:l6-v2", "omnichat-test:latest"

# Real words, most common first (their Zipf weights make the text read like prose to BM25).
WORDS = """the of and to in is that for it as with on be by this are from at or an was which have not can
system data time process value user service report model network policy storage request server
customer account payment invoice order product price market team project plan budget review risk
security access control key password token session client support issue error failure event log
metric cost usage limit quota region cluster node database table index query record field schema
file document page section chapter figure result analysis method study sample test measure rate
energy power water heat pressure temperature flow pump valve motor engine sensor signal circuit
patient treatment dose clinical trial health hospital doctor nurse symptom diagnosis therapy drug
contract party agreement clause term notice liability warranty license law court claim right duty
river mountain forest ocean island city village road bridge station harbour airport railway
history century war king empire church music art painting novel poem theatre film language
student school teacher course lesson exam grade library research university degree thesis""".split()
RARE = [f"{a}{b}-{n}" for a in "QXZ" for b in "KRV" for n in range(1000, 1100)]  # codes: one passage each


def words(rng: random.Random, n: int) -> list[str]:
    return rng.choices(WORDS, weights=_WEIGHTS, k=n)


_WEIGHTS = [1 / (rank + 3) for rank in range(len(WORDS))]


def paragraph(rng: random.Random, n_words: int) -> str:
    out, left = [], n_words
    while left > 0:
        size = min(left, rng.randint(8, 20))
        sentence = words(rng, size)
        if rng.random() < 0.05:
            sentence[rng.randrange(size)] = rng.choice(RARE)
        out.append(" ".join(sentence).capitalize() + ".")
        left -= size
    return " ".join(out)


# ---------------------------------------------------------------------------- the corpus
def corpus_pdf(pages: int, seed: int) -> bytes:
    """A PDF of `pages` pages, each a heading and ~350 words in paragraphs (~2,300 characters):
    tests/documents_corpus.py's `big_pdf` when it is there, else made here alike."""
    try:
        from tests.documents_corpus import big_pdf  # type: ignore[import-not-found]
    except ImportError:
        big_pdf = None
    if big_pdf is not None:
        try:
            return bytes(big_pdf(pages, seed=seed))
        except TypeError:
            return bytes(big_pdf(pages))
    from fpdf import FPDF

    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(0, 10, f"Part {seed}, page {page}: {' '.join(words(rng, 3)).title()}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        for _ in range(3):
            pdf.multi_cell(0, 4.5, paragraph(rng, 115), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())


# ---------------------------------------------------------------------------- databases and the model server
def model_server(deterministic: bool):  # type: ignore[no-untyped-def]
    port = free_port()
    cmd = [sys.executable, "-m", "local.ollama", "--port", str(port), "--models-dir", str(MODELS_DIR),
           "--log-level", "warning"] + (["--deterministic"] if deterministic else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return start_process(cmd, port, env, cwd=ROOT), f"http://127.0.0.1:{port}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------- the phases
def ingest_corpus(url: str, settings: Settings, store: DatabaseStore, user_id: str, pages: int
                  ) -> tuple[list[str], float, dict[str, float]]:
    storage = LocalStorage(settings.home / "files")
    files: list[str] = []
    for n, start in enumerate(range(0, pages, PAGES_PER_FILE)):
        data = corpus_pdf(min(PAGES_PER_FILE, pages - start), seed=n)
        file_id = new_id()
        storage.put(object_key(user_id, file_id), data)
        lite.run(url, lambda db, f=file_id, d=data, n=n: db.insert("files", {
            "id": f, "user_id": user_id, "name": f"corpus-{n}.pdf", "kind": "document",
            "content_type": "application/pdf", "size": len(d), "storage_key": object_key(user_id, f),
            "status": "queued", "created_at": lite.utcnow(), "updated_at": lite.utcnow()}))
        files.append(file_id)
    embed_s = [0.0]

    def timed_embed(s: Settings, texts, model=None):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return embedder.embed(s, texts, model)
        finally:
            embed_s[0] += time.perf_counter() - t

    parts = ingest.Parts(storage=storage, embed=timed_embed, store=store)
    t0 = time.perf_counter()
    for file_id in files:
        outcome = ingest.index_file(url, settings, file_id, parts=parts)
        if outcome != "ready":
            raise SystemExit(f"file {file_id} was not indexed: {outcome}")
    took = time.perf_counter() - t0
    return files, took, {"embed_s": embed_s[0], "other_s": took - embed_s[0]}


def add_synthetic(url: str, store: DatabaseStore, user_id: str, count: int, dim: int, seed: int = 7) -> list[str]:
    rng, vectors_rng = random.Random(seed), np.random.default_rng(seed)
    files: list[str] = []
    for start in range(0, count, SYNTHETIC_PER_FILE):
        n = min(SYNTHETIC_PER_FILE, count - start)
        chunks = [ChunkIn(i, paragraph(rng, rng.randint(100, 180)), page=i // 3 + 1, section=f"Section {i // 30 + 1}")
                  for i in range(n)]
        vectors = vectors_rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

        def work(db: lite.Db, chunks=chunks, vectors=vectors, start=start) -> str:  # type: ignore[no-untyped-def]
            file_id = new_id()
            db.insert("files", {"id": file_id, "user_id": user_id, "name": f"synthetic-{start}.txt",
                                "storage_key": f"bench/{file_id}", "status": "ready", "created_at": lite.utcnow(),
                                "updated_at": lite.utcnow()})
            store.add(db, file_id, chunks, vectors)
            return file_id
        files.append(lite.run(url, work))
    return files


def questions(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        asked = [w for w in words(rng, rng.randint(4, 9)) if w not in ("the", "of", "and", "to", "in")]
        if i % 3 == 0:
            asked.append(rng.choice(RARE))
        out.append("What does the " + " ".join(asked) + " say?")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the searched index (at least)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embedder", choices=("auto", "minilm", "deterministic"), default="auto")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (default: SQLite)")
    args = parser.parse_args()

    use_minilm = args.embedder == "minilm" or (
        args.embedder == "auto" and (MODELS_DIR / "all-minilm" / "l6-v2.gguf").is_file())
    model = f"ollama/{MINILM if use_minilm else TEST_MODEL}"
    db = "postgresql" if args.database_url else "sqlite"
    proc, host = model_server(deterministic=not use_minilm)
    home = Path(tempfile.mkdtemp())
    with scratch_database(args.database_url, home) as url:
        try:
            migrate.upgrade(url)
            settings = Settings(home=home, database_url=url, ollama_host=host, embed_model=model,
                                provider_max_attempts=1)
            user_id = new_id()
            lite.run(url, lambda d: d.insert("users", {"id": user_id, "email": "bench@example.com",
                                                       "password_hash": "-", "role": "user"}))
            store = DatabaseStore()
            embedder.embed(settings, ["warm the model up"])  # its load is not ingestion
            corpus, took, split = ingest_corpus(url, settings, store, user_id, args.pages)
            ingested = lite.run(url, lambda d: int(d.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]))
            print(f"ingested {args.pages} pages ({ingested} chunks) in {took:.1f} s: {args.pages / took:.1f} pages/s "
                  f"(embedding {split['embed_s']:.1f} s, the rest {split['other_s']:.1f} s)", file=sys.stderr)

            dim = len(embedder.embed(settings, ["dimension"])[0])
            t = time.perf_counter()
            synthetic = add_synthetic(url, store, user_id, max(0, args.chunks - ingested), dim)
            print(f"added {args.chunks - ingested} synthetic chunks in {time.perf_counter() - t:.1f} s",
                  file=sys.stderr)
            scope = corpus + synthetic
            total = lite.run(url, lambda d: int(d.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]))

            asked = questions(args.queries)
            vectors = embedder.embed(settings, asked)

            def search(i: int) -> float:
                t = time.perf_counter()
                hits = lite.run(url, lambda d: store.search(d, scope, asked[i], vectors[i], 8))
                assert len(hits) == 8
                return (time.perf_counter() - t) * 1000

            store.cache.clear()
            cold = search(0)
            warm = [search(i % len(asked)) for i in range(args.queries)]

            with_embed = []
            for question in asked[: max(20, args.queries // 4)]:
                t = time.perf_counter()
                vector = embedder.embed(settings, [question])[0]
                lite.run(url, lambda d, q=question, v=vector: store.search(d, scope, q, v, 8))
                with_embed.append((time.perf_counter() - t) * 1000)

            result = {
                "db": db, "embed_model": model, "pages": args.pages, "ingest_s": round(took, 1),
                "pages_per_s": round(args.pages / took, 1), "ingest_chunks": ingested,
                "ingest_embed_share": round(split["embed_s"] / took, 2), "chunks": total, "files": len(scope),
                "retrieve_cold_ms": round(cold, 1), "retrieve_p50_ms": round(statistics.median(warm), 1),
                "retrieve_p95_ms": round(percentile(warm, 95), 1),
                "retrieve_with_embed_p95_ms": round(percentile(with_embed, 95), 1),
                "cache_mb": round(store.cache.nbytes / 2**20, 1),
                "goals": {"pages_per_s": 20, "retrieve_p95_ms": 100},
            }
        finally:
            proc.terminate()
            proc.wait()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

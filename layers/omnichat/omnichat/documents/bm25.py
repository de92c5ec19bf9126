"""Keyword search: Okapi BM25 over a scope's chunk texts (documents/store.py builds one
index per scope and keeps it in its cache).

The tokenizer is deliberately small: lower-case, Unicode words (`\\w+`: letters, digits
and the underscore, in any script), a few English stop words dropped. No stemming: a rare
exact term (an error code, a name, a part number) is what keyword search is for; meaning
is the vector search's job. The index is term-major postings in numpy arrays (CSR), built
with one sort, so a query touches only the postings of its own terms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

K1 = 1.2
B = 0.75
_WORD = re.compile(r"\w+")
STOP_WORDS = frozenset(
    "a an and are as at be but by for from has have he her his i if in into is it its me my no not of on or our "
    "she so than that the their them then there these they this to too us was we were what when where which "
    "who why will with you your".split()
)

FloatArray = npt.NDArray[np.float32]


def tokens(text: str) -> list[str]:
    """The searchable words of `text`, in order."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


class Bm25Index:
    """BM25 scores of a fixed list of documents (their positions are the document ids)."""

    def __init__(self, texts: Iterable[str], k1: float = K1, b: float = B) -> None:
        vocabulary: dict[str, int] = {}
        intern = vocabulary.setdefault
        ids: list[int] = []
        lengths: list[int] = []
        for text in texts:
            words = tokens(text)
            ids.extend([intern(w, len(vocabulary)) for w in words])
            lengths.append(len(words))
        self.vocabulary = vocabulary
        self.size = n = len(lengths)
        length = np.asarray(lengths, dtype=np.float32)
        average = float(length.mean()) if n and length.sum() > 0 else 1.0
        # Each (term, document) pair once, term-major, with its count: one sort of all tokens.
        terms = np.asarray(ids, dtype=np.int64)
        docs = np.repeat(np.arange(n, dtype=np.int64), np.asarray(lengths, dtype=np.int64))
        pairs, counts = np.unique(terms * max(n, 1) + docs, return_counts=True)
        self.postings = (pairs % max(n, 1)).astype(np.int32)  # document of each pair
        self.tf = counts.astype(np.float32)  # the term's count in that document
        self.starts = np.searchsorted(pairs // max(n, 1), np.arange(len(vocabulary) + 1)).astype(np.int64)
        self.norm = (k1 * (1 - b + b * length / average)).astype(np.float32)  # per document
        self.k1 = k1

    @property
    def nbytes(self) -> int:
        """Memory held (arrays, and the vocabulary at ~90 bytes a word)."""
        arrays = self.postings.nbytes + self.tf.nbytes + self.starts.nbytes + self.norm.nbytes
        return int(arrays) + 90 * len(self.vocabulary)

    def scores(self, query: str) -> FloatArray:
        """The BM25 score of every document for `query` (0 where no query word occurs)."""
        total = np.zeros(self.size, dtype=np.float32)
        for term in dict.fromkeys(tokens(query)):  # each query word once, in order
            t = self.vocabulary.get(term)
            if t is None:
                continue
            lo, hi = int(self.starts[t]), int(self.starts[t + 1])
            docs, tf = self.postings[lo:hi], self.tf[lo:hi]
            df = hi - lo
            idf = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
            total[docs] += np.float32(idf) * tf * np.float32(self.k1 + 1) / (tf + self.norm[docs])
        return total


def top(scores: FloatArray, n: int, positive: bool = False) -> list[int]:
    """The positions of the `n` best scores, best first, ties by position (deterministic);
    never a score of -inf (a masked row); with `positive`, only scores above 0."""
    candidates = np.flatnonzero(scores > 0 if positive else scores > -np.inf)
    if len(candidates) > n:
        values = scores[candidates]
        cut = np.argpartition(-values, n - 1)[:n]
        threshold = values[cut].min()
        candidates = candidates[values >= threshold]  # every tie at the cut, then sorted below
    order = np.lexsort((candidates, -scores[candidates]))
    return [int(i) for i in candidates[order][:n]]


def fuse(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each item's sum of 1 / (k + rank) over the rankings it is in
    (rank from 1), best first; ties by the item (deterministic)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))

"""An index of a corpus's 8-word shingles -> the one document that holds each (or "several"), for membership tests of
generated samples without a Python scan of the corpus per sample.

Words are `\\w+` runs, lowercased (punctuation and case do not break a match). The index is built in one streaming
pass over the corpus and kept as two numpy arrays, sorted 64-bit shingle hashes (blake2b) and the row of the only
document holding each (-1: more than one document), 16 bytes per distinct shingle; the corpus text is not kept.
A lookup is a binary search.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\w+")
SHINGLE = 8
SEVERAL = -1


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    return [(m.group().lower(), m.start(), m.end()) for m in WORD.finditer(text)]


def shingle_hashes(words: Sequence[str], n: int = SHINGLE) -> np.ndarray:
    """The 64-bit hash of every window of `n` consecutive words (none for fewer words)."""
    out = np.empty(max(0, len(words) - n + 1), dtype=np.uint64)
    for i in range(len(out)):
        digest = hashlib.blake2b(" ".join(words[i : i + n]).encode("utf-8"), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


@dataclass
class ShingleIndex:
    hashes: np.ndarray  # sorted, unique, uint64
    rows: np.ndarray  # int64: the row of the only document with the shingle, or SEVERAL
    n: int = SHINGLE

    @classmethod
    def build(cls, texts: Iterable[str], n: int = SHINGLE, chunk: int = 1_000_000) -> ShingleIndex:
        """From documents in corpus order (row = position); memory: the index plus one chunk of pairs."""
        buf_h: list[np.ndarray] = []
        buf_r: list[np.ndarray] = []
        size = 0
        index = cls(np.empty(0, np.uint64), np.empty(0, np.int64), n)
        for row, text in enumerate(texts):
            h = np.unique(shingle_hashes([w for w, _, _ in words_with_offsets(text)], n))
            buf_h.append(h)
            buf_r.append(np.full(len(h), row, dtype=np.int64))
            size += len(h)
            if size >= chunk:
                index = index._merged(np.concatenate(buf_h), np.concatenate(buf_r))
                buf_h, buf_r, size = [], [], 0
        if buf_h:
            index = index._merged(np.concatenate(buf_h), np.concatenate(buf_r))
        return index

    def _merged(self, h: np.ndarray, r: np.ndarray) -> ShingleIndex:
        h = np.concatenate([self.hashes, h])
        r = np.concatenate([self.rows, r])
        order = np.lexsort((r, h))
        h, r = h[order], r[order]
        first = np.ones(len(h), dtype=bool)
        first[1:] = h[1:] != h[:-1]
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], len(h))
        # a shingle is unique to one document when its first and last rows agree (and none is already SEVERAL)
        unique = (r[starts] == r[ends - 1]) & (r[starts] != SEVERAL)
        return ShingleIndex(h[starts], np.where(unique, r[starts], SEVERAL), self.n)

    def __len__(self) -> int:
        return len(self.hashes)

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Row per hash: the only document holding it, SEVERAL, or -2 when no document does."""
        if not len(self.hashes):
            return np.full(len(hashes), -2, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        return np.where(self.hashes[pos] == hashes, self.rows[pos], -2)

    def unique_runs(self, words: Sequence[str]) -> Iterator[tuple[int, int, int]]:
        """(row, first word, end word) of every maximal run of a sample's consecutive shingles found in exactly one
        document, the same one: words[first:end] (at least `n` words) may occur there."""
        rows = self.lookup(shingle_hashes(words, self.n))
        i = 0
        while i < len(rows):
            if rows[i] < 0:
                i += 1
                continue
            j = i
            while j + 1 < len(rows) and rows[j + 1] == rows[i]:
                j += 1
            yield int(rows[i]), i, j + self.n
            i = j + 1


def find_words(doc_words: Sequence[tuple[str, int, int]], words: Sequence[str]) -> tuple[int, int] | None:
    """Character range in the document of the first occurrence of `words` as consecutive words, or None."""
    k = len(words)
    first = words[0]
    for i in range(len(doc_words) - k + 1):
        if doc_words[i][0] == first and all(doc_words[i + j][0] == words[j] for j in range(1, k)):
            return doc_words[i][1], doc_words[i + k - 1][2]
    return None

"""A five-document corpus and a deterministic stand-in for a neural encoder, for retrieval tests that need an index
but not a model."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from cbqa.core.formats import Document
from retrieval_baseline.has_answer import simple_tokenize
from retrieval_baseline.passages import Passage

DOCS = [
    Document("paris", "Paris is the capital and largest city of France. The Eiffel Tower stands in Paris.", "Paris"),
    Document("berlin", "Berlin is the capital of Germany. The Brandenburg Gate is in Berlin.", "Berlin"),
    Document("tokyo", "Tokyo is the capital of Japan and hosted the Summer Olympics in 1964.", "Tokyo"),
    Document("nile", "The Nile is a river in Africa, among the longest rivers in the world.", "Nile"),
    Document("amazon", "The Amazon rainforest covers much of the Amazon basin of South America.", "Amazon"),
]


class HashEncoder:
    """Bag of hashed words: a deterministic stand-in for a neural encoder (shared words -> similar vectors)."""

    def __init__(self, dim: int = 64, name: str = "test-hash-encoder") -> None:
        self.name, self.dim, self.normalize = name, dim, True

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in simple_tokenize(text):
            if tok.isalnum():
                v[zlib.crc32(tok.encode()) % self.dim] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        return np.stack([self._vec(q) for q in questions]) if questions else np.zeros((0, self.dim), np.float32)

    def encode_passages(self, passages: Sequence[Passage]) -> np.ndarray:
        return np.stack([self._vec(f"{p.title} {p.text}") for p in passages])

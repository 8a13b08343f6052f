"""Nearest training questions by TF-IDF (scikit-learn) or dense sentence embeddings (sentence-transformers).

Both return, for each test question, the top-k training questions with cosine similarity in [-1, 1]
(TF-IDF vectors are non-negative, so its scores lie in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.formats.qa import QAExample
from retrieval_baseline.encoders import load_sentence_transformer

METHODS = ("tfidf", "dense")


@dataclass(frozen=True)
class Neighbour:
    id: str
    question: str
    answers: list[str]
    score: float

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "question": self.question, "answers": self.answers, "score": round(self.score, 4)}


class QuestionIndex(Protocol):
    """Training questions as L2-normalised row vectors, and an encoder for new questions in the same space."""

    name: str
    train: list[QAExample]
    matrix: Any  # (n_train x dim), scipy sparse or numpy

    def encode(self, texts: list[str]) -> Any: ...


def _dense(block: Any) -> np.ndarray:
    return block.toarray() if hasattr(block, "toarray") else np.asarray(block)


def _top_k(row: np.ndarray, cols: np.ndarray, train: Sequence[QAExample], k: int) -> list[Neighbour]:
    """Best k of one row of scores over train rows `cols`, best first, ties broken by train order."""
    if len(cols) == 0 or k <= 0:
        return []
    if k < len(cols):
        keep = np.argpartition(-row, k - 1)[:k]  # O(n); only the k kept are sorted
        row, cols = row[keep], cols[keep]
    order = np.lexsort((cols, -row))
    return [
        Neighbour(train[c].id, train[c].question, train[c].answers, float(row[i]))
        for i, c in ((i, int(cols[i])) for i in order)
    ]


def search(index: QuestionIndex, questions: Sequence[str], k: int, block: int = 1024) -> list[list[Neighbour]]:
    """Top-k training neighbours of each question; scored in blocks so memory stays block x n_train."""
    everyone = np.arange(index.matrix.shape[0])
    out: list[list[Neighbour]] = []
    for start in range(0, len(questions), block):
        sims = _dense(index.encode(list(questions[start : start + block])) @ index.matrix.T)
        out.extend(_top_k(row, everyone, index.train, k) for row in sims)
    return out


def search_among(
    index: QuestionIndex, questions: Sequence[str], candidates: Sequence[Sequence[int]], k: int, block: int = 1024
) -> list[list[Neighbour]]:
    """Top-k neighbours of question i among training rows `candidates[i]` only (e.g. those sharing an answer)."""
    out: list[list[Neighbour]] = []
    for start in range(0, len(questions), block):
        vecs = index.encode(list(questions[start : start + block]))
        for j, cols in enumerate(candidates[start : start + block]):
            cols = np.asarray(sorted(set(cols)), dtype=np.int64)
            if len(cols) == 0:
                out.append([])
                continue
            row = _dense(vecs[j] @ index.matrix[cols].T).ravel()
            out.append(_top_k(row, cols, index.train, k))
    return out


@dataclass(frozen=True)
class TfidfConfig:
    ngram_range: tuple[int, int] = (1, 2)  # word unigrams + bigrams: bigrams reward shared phrasing
    sublinear_tf: bool = True
    min_df: int = 1


class TfidfIndex:
    """TF-IDF over word n-grams, fitted on the training questions, cosine similarity (rows are L2-normalised)."""

    name = "tfidf"

    def __init__(self, train: Sequence[QAExample], config: TfidfConfig = TfidfConfig()) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not train:
            raise CbqaError("the training set is empty: nothing to compare test questions with")
        self.train = list(train)
        self.vectorizer = TfidfVectorizer(
            analyzer="word", ngram_range=config.ngram_range, sublinear_tf=config.sublinear_tf, min_df=config.min_df
        )
        self.matrix = self.vectorizer.fit_transform([ex.question for ex in self.train])

    def encode(self, texts: list[str]) -> Any:
        return self.vectorizer.transform(texts)


class DenseIndex:
    """Sentence-transformer embeddings, L2-normalised, so the dot product is the cosine similarity."""

    name = "dense"

    def __init__(
        self, train: Sequence[QAExample], model: str | None = None, batch_size: int = 128, progress: bool = False
    ) -> None:
        if not train:
            raise CbqaError("the training set is empty: nothing to compare test questions with")
        self.train = list(train)
        self.model = load_sentence_transformer(model or "default")
        self.batch_size = batch_size
        self.progress = progress
        self.matrix = self.encode([ex.question for ex in self.train])

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.progress,
        )


def build_index(
    method: str, train: Sequence[QAExample], model: str | None = None, progress: bool = False
) -> QuestionIndex:
    if method == "tfidf":
        return TfidfIndex(train)
    if method == "dense":
        return DenseIndex(train, model=model, progress=progress)
    raise CbqaError(f"unknown similarity method {method!r}; choose from {', '.join(METHODS)}")

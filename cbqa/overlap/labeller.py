"""Compute overlap labels for a test set against a training set (and optionally a pretraining corpus).

One output row per test question, keyed by test `id`; the schema is documented in docs/overlap.md and is
shared with rows converted from Lewis et al.'s released labels (`released_labels.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.core.formats.qa import QAExample
from cbqa.core.metrics import normalize_answer
from cbqa.overlap.answer_overlap import AnswerIndex
from cbqa.overlap.categories import overlap_row
from cbqa.overlap.corpus_overlap import CorpusIndex
from cbqa.overlap.question_similarity import METHODS, QuestionIndex, build_index, search, search_among

# Cosine thresholds at or above which a training question (by default one sharing a gold answer) counts as a
# paraphrase. Dense: chosen once at the highest mean F1 over two labelled paraphrase sources with answer sharing
# required (experiments/overlap_threshold.py, 0.01 steps) and frozen here. TF-IDF: the best-F1 point of the
# constructed check; pass your own with --threshold. How both were chosen: docs/notes/2026-12-01-overlap-threshold.md.
DEFAULT_THRESHOLDS: dict[str, float] = {"tfidf": 0.8, "dense": 0.85}


@dataclass(frozen=True)
class OverlapConfig:
    """The detector. Defaults follow Lewis et al.'s labels: question overlap only with a training question that shares
    a normalised gold answer (their annotators judged paraphrases among those), by dense similarity, at the frozen
    threshold; so every question overlap is also an answer overlap."""

    methods: tuple[str, ...] = ("dense",)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    # Lewis et al. judged paraphrases among training questions that share the test answer; with this on (the
    # default), only such training questions can make a question overlap.
    require_shared_answer: bool = True
    k: int = 3  # neighbours kept per method, for inspection
    model: str | None = None  # sentence encoder for "dense" (default: the offline MiniLM)

    def __post_init__(self) -> None:
        if not self.methods:
            raise CbqaError("no similarity method chosen")
        for m in self.methods:
            if m not in METHODS:
                raise CbqaError(f"unknown similarity method {m!r}; choose from {', '.join(METHODS)}")
            if m not in self.thresholds:
                raise CbqaError(f"no threshold for method {m!r}")
        if self.k < 1:
            raise CbqaError(f"k must be at least 1, got {self.k}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["methods"] = list(self.methods)
        d["thresholds"] = {m: self.thresholds[m] for m in self.methods}
        return d


def shared_answer_rows(train: Sequence[QAExample], test: Sequence[QAExample]) -> list[list[int]]:
    """Per test question, the training rows (indices) with a normalised answer alias in common."""
    by_answer: dict[str, list[int]] = {}
    for i, ex in enumerate(train):
        for a in {normalize_answer(a) for a in ex.answers} - {""}:
            by_answer.setdefault(a, []).append(i)
    return [
        sorted({i for a in {normalize_answer(a) for a in ex.answers} - {""} for i in by_answer.get(a, ())})
        for ex in test
    ]


def label_overlap(
    train: Sequence[QAExample],
    test: Sequence[QAExample],
    config: OverlapConfig = OverlapConfig(),
    corpus: CorpusIndex | None = None,
    indexes: dict[str, QuestionIndex] | None = None,
) -> list[dict[str, Any]]:
    """Overlap rows for `test`, in test order. `indexes` lets a caller reuse already-built question indexes."""
    if not train:
        raise CbqaError("the training set is empty")
    answers = AnswerIndex(train)
    questions = [ex.question for ex in test]
    nearest: dict[str, list[list[Any]]] = {}
    eligible: dict[str, list[list[Any]]] = {}
    shared = shared_answer_rows(train, test) if config.require_shared_answer else None
    for method in config.methods:
        index = (indexes or {}).get(method) or build_index(method, train, model=config.model)
        nearest[method] = search(index, questions, config.k)
        eligible[method] = search_among(index, questions, shared, 1) if shared is not None else nearest[method]

    rows = []
    for i, ex in enumerate(test):
        matches = answers.matches(ex.answers)
        answer_overlap = bool(matches)
        decisions: dict[str, Any] = {}
        for method in config.methods:
            best = eligible[method][i][0] if eligible[method][i] else None
            score = best.score if best else None
            decisions[method] = {
                "score": None if score is None else round(score, 4),
                "train_id": best.id if best else None,
                "overlap": score is not None and score >= config.thresholds[method],
            }
        question_overlap = any(d["overlap"] for d in decisions.values())
        row: dict[str, Any] = {
            **overlap_row(ex.id, ex.question, ex.answers, answer_overlap, question_overlap),
            "answer_matches": [{"answer": m.answer, "train_ids": list(m.train_ids)} for m in matches],
            "question_decision": decisions,
            "nearest": {m: [n.to_json() for n in nearest[m][i]] for m in config.methods},
            "source": "computed",
        }
        if corpus is not None:
            ev = corpus.evidence(ex.answers, ex.question)
            row["answer_in_corpus"] = ev.answer_in_corpus
            row["corpus"] = ev.to_json()
        rows.append(row)
    return rows

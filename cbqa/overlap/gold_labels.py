"""Compare computed overlap labels with gold ones (the toy world's `overlap_gold.jsonl`, or human labels
such as Lewis et al.'s converted with `cbqa overlap --released-labels`). Rows join by `id`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cbqa.core.errors import DataError
from cbqa.core.formats.jsonl import read_jsonl
from cbqa.overlap.categories import CATEGORIES, QUESTION_OVERLAP, category_for, decisions_from_labels


@dataclass(frozen=True)
class BinaryScores:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def accuracy(self) -> float | None:
        return (self.tp + self.tn) / self.n if self.n else None

    def to_json(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "n": self.n,
            "precision": self.precision,
            "recall": self.recall,
            "accuracy": self.accuracy,
        }


@dataclass
class GoldComparison:
    n_joined: int
    n_gold_only: int  # gold rows with no computed row (e.g. other splits)
    n_computed_only: int
    category_labels: list[str]
    confusion: dict[str, dict[str, int]]  # gold category -> computed category -> count
    question_overlap: BinaryScores
    answer_overlap: BinaryScores
    examples: dict[str, list[str]] = field(default_factory=dict)  # "gold->computed" -> a few ids

    @property
    def category_accuracy(self) -> float | None:
        n = sum(sum(r.values()) for r in self.confusion.values())
        hit = sum(self.confusion[g].get(g, 0) for g in self.confusion)
        return hit / n if n else None

    def to_json(self) -> dict[str, Any]:
        return {
            "n_joined": self.n_joined,
            "n_gold_only": self.n_gold_only,
            "n_computed_only": self.n_computed_only,
            "category_accuracy": self.category_accuracy,
            "confusion": self.confusion,
            "question_overlap": self.question_overlap.to_json(),
            "answer_overlap": self.answer_overlap.to_json(),
            "examples": self.examples,
        }


def read_gold_labels(path: str | Path) -> list[dict[str, Any]]:
    """Gold rows: `id` plus a `category` and/or a Lewis et al. `labels` list (toy world or converted labels)."""
    rows = []
    for line, obj in read_jsonl(path):
        if "id" not in obj:
            raise DataError(path, line, "missing 'id'")
        if obj.get("category") is None and not obj.get("labels"):
            raise DataError(path, line, "needs a 'category' or a 'labels' list")
        if obj.get("labels") is not None:
            if not isinstance(obj["labels"], list):
                raise DataError(path, line, "'labels' must be a list of strings")
            try:
                decisions_from_labels(obj["labels"])
            except ValueError as e:
                raise DataError(path, line, str(e)) from None
        rows.append(obj)
    return rows


def _decisions(row: dict[str, Any]) -> tuple[bool | None, bool | None, str | None]:
    """(answer_overlap, question_overlap, category) of a row: explicit fields first, then the label list,
    then what the category implies (the toy world's gold names `answer_in_train` for answer overlap)."""
    answer = row.get("answer_overlap", row.get("answer_in_train"))
    question = row.get("question_overlap")
    if row.get("labels"):
        from_labels = decisions_from_labels(row["labels"])
        answer = from_labels[0] if answer is None else answer
        question = from_labels[1] if question is None else question
    category = row.get("category")
    if question is None and category in CATEGORIES:
        question = category == QUESTION_OVERLAP
    if category is None and answer is not None:
        category = category_for(answer, question)
    return answer, question, category


def _binary(pairs: Sequence[tuple[bool, bool]]) -> BinaryScores:
    tp = sum(g and c for g, c in pairs)
    fp = sum(c and not g for g, c in pairs)
    fn = sum(g and not c for g, c in pairs)
    return BinaryScores(tp, fp, fn, len(pairs) - tp - fp - fn)


def compare_with_gold(
    computed: Sequence[dict[str, Any]], gold: Sequence[dict[str, Any]], n_examples: int = 5
) -> GoldComparison:
    by_id = {str(r["id"]): r for r in computed}
    gold_by_id = {str(r["id"]): r for r in gold}
    joined = [(gold_by_id[i], by_id[i]) for i in by_id if i in gold_by_id]
    labels = list(CATEGORIES)
    confusion: dict[str, dict[str, int]] = {}
    examples: dict[str, list[str]] = {}
    q_pairs: list[tuple[bool, bool]] = []
    a_pairs: list[tuple[bool, bool]] = []
    for g, c in joined:
        ga, gq, gcat = _decisions(g)
        ca, cq, ccat = _decisions(c)
        if ga is not None and ca is not None:
            a_pairs.append((ga, ca))
        if gq is not None and cq is not None:
            q_pairs.append((gq, cq))
        if gcat is not None and ccat is not None:
            for cat in (gcat, ccat):
                if cat not in labels:
                    labels.append(cat)
            confusion.setdefault(gcat, {})
            confusion[gcat][ccat] = confusion[gcat].get(ccat, 0) + 1
            if gcat != ccat:
                ids = examples.setdefault(f"{gcat}->{ccat}", [])
                if len(ids) < n_examples:
                    ids.append(str(c["id"]))
    full = {g: {c: confusion.get(g, {}).get(c, 0) for c in labels} for g in labels if g in confusion}
    return GoldComparison(
        n_joined=len(joined),
        n_gold_only=sum(1 for i in gold_by_id if i not in by_id),
        n_computed_only=sum(1 for i in by_id if i not in gold_by_id),
        category_labels=labels,
        confusion=full,
        question_overlap=_binary(q_pairs),
        answer_overlap=_binary(a_pairs),
        examples=examples,
    )

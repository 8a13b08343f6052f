"""Comparing computed labels with gold labels (toy-world style and Lewis et al. style)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbqa.core.errors import DataError
from cbqa.overlap.categories import labels_for
from cbqa.overlap.gold_labels import compare_with_gold, read_gold_labels


def _row(i: str, a: bool, q: bool | None) -> dict:
    return {"id": i, "labels": labels_for(a, q), "answer_overlap": a, "question_overlap": q}


def test_confusion_accuracy_and_question_precision_recall() -> None:
    computed = [
        _row("1", True, True),
        _row("2", True, True),
        _row("3", True, False),
        _row("4", False, False),
        _row("5", False, False),
    ]
    gold = [  # toy-world rows: category + answer_in_train, no question_overlap field
        {"id": "1", "category": "question_overlap", "answer_in_train": True},
        {"id": "2", "category": "answer_overlap_only", "answer_in_train": True},
        {"id": "3", "category": "question_overlap", "answer_in_train": True},
        {"id": "4", "category": "no_overlap", "answer_in_train": False},
        {"id": "9", "category": "no_overlap", "answer_in_train": False, "split": "dev"},
    ]
    c = compare_with_gold(computed, gold)
    assert (c.n_joined, c.n_gold_only, c.n_computed_only) == (4, 1, 1)
    assert c.confusion["question_overlap"] == {"question_overlap": 1, "answer_overlap_only": 1, "no_overlap": 0}
    assert c.confusion["answer_overlap_only"]["question_overlap"] == 1
    assert c.category_accuracy == pytest.approx(2 / 4)
    q = c.question_overlap
    assert (q.tp, q.fp, q.fn, q.tn) == (1, 1, 1, 1)
    assert q.precision == pytest.approx(0.5) and q.recall == pytest.approx(0.5)
    assert c.answer_overlap.accuracy == 1.0
    assert c.examples["answer_overlap_only->question_overlap"] == ["2"]


def test_released_style_gold_scores_only_annotated_questions() -> None:
    computed = [_row("0", True, True), _row("1", True, False)]
    gold = [
        {"id": "0", "labels": ["total", "answer_overlap"]},  # not annotated for question overlap
        {"id": "1", "labels": ["total", "no_question_overlap", "answer_overlap", "answer_overlap_only"]},
    ]
    c = compare_with_gold(computed, gold)
    assert c.question_overlap.n == 1 and c.question_overlap.tn == 1
    assert c.answer_overlap.n == 2


def test_read_gold_labels_errors(tmp_path: Path) -> None:
    bad = tmp_path / "g.jsonl"
    bad.write_text(json.dumps({"id": "1", "category": "no_overlap"}) + "\n" + json.dumps({"id": "2"}) + "\n")
    with pytest.raises(DataError, match=r"g\.jsonl:2: needs a 'category' or a 'labels' list"):
        read_gold_labels(bad)

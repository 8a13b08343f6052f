"""Reciprocal rank fusion, top-k recall, reader input formatting."""

from __future__ import annotations

import pytest

from cbqa.reader.inputs import format_reader_input
from retrieval_baseline import Hit, recall_at_k, reciprocal_rank_fusion
from retrieval_baseline.evaluate import RetrievedQuestion, evaluate


def test_rrf_scores_and_order() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["d"] == pytest.approx(1 / 63)
    assert [i for i, _ in fused] == ["a", "c", "b", "d"]  # b (1/62) beats d (1/63)


def test_rrf_ties_keep_first_seen_order_and_top() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([["x"], ["y"]], k=60)] == ["x", "y"]
    assert len(reciprocal_rank_fusion([["a", "b", "c"]], top=2)) == 2


def test_recall_at_k_counts_first_answer_rank() -> None:
    retrieved = [
        ["nothing here", "Paris is the capital"],  # answer at rank 2
        ["the capital is Paris."],  # rank 1
        ["no", "no", "no"],  # never
        [],
    ]
    answers = [["Paris"], ["paris"], ["Paris"], ["Paris"]]
    assert recall_at_k(retrieved, answers, ks=(1, 2, 5)) == {1: 25.0, 2: 50.0, 5: 50.0}


def test_evaluate_marks_k_beyond_depth_unmeasured() -> None:
    qs = [RetrievedQuestion("1", "q", ["x"], [Hit("p", "", "x", 1.0)])]
    r = evaluate("run", qs, ks=(1, 5))
    assert r.recall == {1: 100.0, 5: None} and r.depth == 1


def test_format_reader_input() -> None:
    hits = [
        Hit("a#0", "Paris", "Paris is the capital.", 2.0),
        Hit("b#0", "", "Untitled text.", 1.0),
        Hit("c#0", "Lyon", "Lyon.", 0.5),
    ]
    text = format_reader_input("what is  the capital?", hits, max_passages=2)
    assert (
        text == "question: what is the capital? context: title: Paris text: Paris is the capital. text: Untitled text."
    )
    assert format_reader_input("q", hits, 0) == "question: q context:"

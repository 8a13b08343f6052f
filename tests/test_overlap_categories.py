"""Each overlap category on small hand-made train/test pairs, and the label logic itself."""

from __future__ import annotations

import pytest

from cbqa.core.formats.qa import QAExample
from cbqa.overlap.categories import category_for, count_labels, decisions_from_labels, labels_for
from cbqa.overlap.labeller import OverlapConfig, label_overlap

TRAIN = [
    QAExample("t1", "who wrote the novel war and peace", ["Leo Tolstoy"]),
    QAExample("t2", "what is the capital city of france", ["Paris"]),
    QAExample("t3", "how many legs does a spider have", ["eight"]),
]
TEST = [
    # a paraphrase of t1 with the same answer -> question_overlap
    QAExample("q", "who wrote the novel war and peace ?", ["Tolstoy", "Leo Tolstoy"]),
    # a different question whose answer is a training answer (normalised: "The Paris" -> "paris")
    QAExample("a", "where did the 1924 summer olympics take place", ["The Paris"]),
    # neither
    QAExample("n", "what colour is the sky on mars", ["butterscotch"]),
]


def test_labels_for_all_cases() -> None:
    assert labels_for(True, True) == ["total", "question_overlap", "answer_overlap"]
    assert labels_for(True, False) == ["total", "no_question_overlap", "answer_overlap", "answer_overlap_only"]
    assert labels_for(False, False) == ["total", "no_question_overlap", "no_answer_overlap", "no_overlap"]
    assert labels_for(False, True) == ["total", "question_overlap", "no_answer_overlap"]
    assert labels_for(True, None) == ["total", "answer_overlap"]
    assert category_for(True, None) is None
    assert category_for(False, True) == "question_overlap"


def test_decisions_round_trip_and_contradictions() -> None:
    for a in (True, False):
        for q in (True, False, None):
            assert decisions_from_labels(labels_for(a, q)) == (a, q)
    with pytest.raises(ValueError, match="both"):
        decisions_from_labels(["total", "answer_overlap", "no_answer_overlap"])
    with pytest.raises(ValueError, match="unknown"):
        decisions_from_labels(["total", "answer_overlap", "paraphrase"])


def test_each_category_from_hand_made_pairs() -> None:
    rows = {r["id"]: r for r in label_overlap(TRAIN, TEST, OverlapConfig(methods=("tfidf",)))}
    assert rows["q"]["category"] == "question_overlap"
    assert rows["q"]["question_decision"]["tfidf"]["train_id"] == "t1"
    assert rows["a"]["category"] == "answer_overlap_only"
    assert rows["a"]["answer_matches"] == [{"answer": "The Paris", "train_ids": ["t2"]}]
    assert rows["n"]["category"] == "no_overlap"
    assert rows["n"]["labels"] == ["total", "no_question_overlap", "no_answer_overlap", "no_overlap"]
    assert count_labels([r["labels"] for r in rows.values()]) == {
        "total": 3,
        "question_overlap": 1,
        "no_question_overlap": 2,
        "answer_overlap": 2,
        "no_answer_overlap": 1,
        "answer_overlap_only": 1,
        "no_overlap": 1,
    }


def test_require_shared_answer_blocks_a_paraphrase_with_another_answer() -> None:
    train = [QAExample("t", "who is the president of the united states", ["Barack Obama"])]
    test = [QAExample("x", "who is the president of the united states", ["Donald Trump"])]
    loose = label_overlap(train, test, OverlapConfig(methods=("tfidf",), require_shared_answer=False))[0]
    strict = label_overlap(train, test, OverlapConfig(methods=("tfidf",)))[0]  # answer sharing: the default
    assert loose["question_overlap"] is True
    assert strict["question_overlap"] is False
    assert strict["question_decision"]["tfidf"] == {"score": None, "train_id": None, "overlap": False}
    # the unrestricted neighbours are still shown for inspection
    assert strict["nearest"]["tfidf"][0]["id"] == "t"


def test_threshold_decides() -> None:
    test = [QAExample("p", "who was it that wrote war and peace", ["Leo Tolstoy"])]
    low = label_overlap(TRAIN, test, OverlapConfig(methods=("tfidf",), thresholds={"tfidf": 0.3}))[0]
    score = low["question_decision"]["tfidf"]["score"]
    assert 0.3 < score < 1.0
    high = label_overlap(TRAIN, test, OverlapConfig(methods=("tfidf",), thresholds={"tfidf": score + 0.01}))[0]
    assert low["question_overlap"] is True and high["question_overlap"] is False
    assert high["category"] == "answer_overlap_only"

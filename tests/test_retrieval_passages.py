"""Passage splitting: DPR-style 100-word windows, titles kept, stable ids, optional stride."""

from __future__ import annotations

import pytest

from cbqa.core.errors import CbqaError
from cbqa.core.formats import Document
from cbqa.core.io import fingerprint
from retrieval_baseline.passages import (
    Passage,
    SplitConfig,
    passages_fingerprint,
    read_passages,
    split_corpus,
    split_document,
    write_passages,
)


def _doc(n_words: int, did: str = "d", title: str = "T") -> Document:
    return Document(id=did, text=" ".join(f"w{i}" for i in range(n_words)), title=title)


def test_non_overlapping_windows_with_stable_ids_and_title() -> None:
    ps = split_document(_doc(250), SplitConfig(words=100))
    assert [p.id for p in ps] == ["d#0", "d#1", "d#2"]
    assert [len(p.text.split()) for p in ps] == [100, 100, 50]
    assert all(p.title == "T" for p in ps)
    assert ps[1].text.split()[0] == "w100"
    assert " ".join(p.text for p in ps).split() == _doc(250).text.split()  # nothing lost or repeated


def test_exact_multiple_makes_no_empty_tail() -> None:
    assert len(split_document(_doc(200), SplitConfig(words=100))) == 2


def test_stride_overlaps_and_stops_at_the_end() -> None:
    ps = split_document(_doc(10), SplitConfig(words=4, stride=2))
    assert [p.text for p in ps] == ["w0 w1 w2 w3", "w2 w3 w4 w5", "w4 w5 w6 w7", "w6 w7 w8 w9"]


def test_whitespace_is_folded_and_empty_docs_dropped() -> None:
    doc = Document(id="x", text="  a \n b\t\tc  ", title="")
    assert split_document(doc) == [Passage("x#0", "", "a b c")]
    assert split_document(Document(id="e", text="   ")) == []


def test_words_zero_keeps_documents_whole() -> None:
    assert [p.id for p in split_document(_doc(250), SplitConfig(words=0))] == ["d#0"]


@pytest.mark.parametrize(("words", "stride"), [(-1, None), (10, 0), (10, 11)])
def test_bad_split_config(words: int, stride: int | None) -> None:
    with pytest.raises(CbqaError):
        SplitConfig(words=words, stride=stride)


def test_roundtrip_and_fingerprint(tmp_path) -> None:
    ps = list(split_corpus([_doc(150, "a"), _doc(30, "b", "Other")], SplitConfig(words=100)))
    assert write_passages(tmp_path / "p.jsonl", ps) == 3
    again = read_passages(tmp_path / "p.jsonl")
    assert again == ps
    assert passages_fingerprint(again) == passages_fingerprint(ps) == fingerprint(tmp_path / "p.jsonl")
    changed = [*ps[:-1], Passage(ps[-1].id, ps[-1].title, ps[-1].text + " extra")]
    assert passages_fingerprint(changed) != passages_fingerprint(ps)

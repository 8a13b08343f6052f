"""Knowledge overlap with a corpus: answer occurrence and question-term evidence."""

from __future__ import annotations

import pytest

from cbqa.core.formats.corpus import Document
from cbqa.overlap.corpus_overlap import CorpusIndex, question_terms
from ner_masking.sentences import split_sentences

DOCS = [
    Document("d1", "Marie Curie was born in Warsaw. She won the Nobel Prize in Physics in 1903.", "Marie Curie"),
    Document("d2", "Warsaw is the capital of Poland. It lies on the Vistula.", "Warsaw"),
    Document("d3", "The Eiffel Tower is in Paris. Gustave Eiffel's company built it.", "Eiffel Tower"),
]


def test_split_sentences() -> None:
    assert split_sentences("A b. C d! E? f. 3 cats.") == ["A b.", "C d!", "E? f.", "3 cats."]
    assert split_sentences("Daniel B. Burke led St. George's church. Then more.") == [
        "Daniel B. Burke led St. George's church.",
        "Then more.",
    ]


def test_answer_occurrence_is_normalised_token_sequence_match() -> None:
    index = CorpusIndex(DOCS)
    assert len(index) == 6
    assert [index.sentences[s] for s in index.sentences_with("the warsaw")] == [
        "Marie Curie was born in Warsaw.",
        "Warsaw is the capital of Poland.",
    ]
    assert index.sentences_with("Nobel Prize in Physics") == [1]
    assert index.sentences_with("Prize Nobel") == []  # order matters
    assert index.sentences_with("Wars") == []  # whole tokens only
    assert index.sentences_with("eiffels company") == [5]  # punctuation dropped by normalisation
    assert index.sentences_with("...") == []


def test_question_terms_entities_and_content_words() -> None:
    terms = question_terms("Where was Marie Curie born?", ["Warsaw"])
    assert terms.entities == ("marie curie",)
    assert terms.content_words == ("marie", "curie", "born")
    assert question_terms("What is the capital of Poland", ["Warsaw"]).entities == ("poland",)
    assert "warsaw" not in question_terms("which city is Warsaw", ["Warsaw"]).all()


def test_evidence_prefers_a_sentence_with_question_terms() -> None:
    index = CorpusIndex(DOCS)
    ev = index.evidence(["Warsaw"], "What is the capital of Poland?")
    assert ev.answer_in_corpus and ev.answer_sentences == 2
    assert ev.with_question_term == "sentence"
    assert ev.sentence == "Warsaw is the capital of Poland."
    assert ev.doc_id == "d2" and set(ev.matched_terms) == {"poland", "capital"}


def test_evidence_passage_scope_and_absence() -> None:
    index = CorpusIndex(DOCS)
    ev = index.evidence(["Vistula"], "Which river flows through the capital of Poland?")
    assert ev.with_question_term == "passage" and ev.doc_id == "d2"
    assert ev.sentence == "It lies on the Vistula."
    none = index.evidence(["Lyon"], "Where is the Eiffel Tower?")
    assert none.answer_in_corpus is False and none.to_json()["evidence"] is None
    no_terms = index.evidence(["1903"], "zzz?")
    assert no_terms.answer_in_corpus and no_terms.with_question_term is None


def test_index_on_disk_is_opened_not_rebuilt_and_answers_alike(tmp_path) -> None:
    from cbqa.overlap.corpus_overlap import build_corpus_index, corpus_sentences, open_or_build_corpus_index

    source = {"sentences": "ner_masking.sentences", "corpus": "sha256:test"}
    build_corpus_index(corpus_sentences(DOCS), tmp_path / "ci", source)
    opened = CorpusIndex.open(tmp_path / "ci")
    in_memory = CorpusIndex(DOCS)
    for answers, q in ((["Warsaw"], "What is the capital of Poland?"), (["Vistula"], "Which river flows there?")):
        assert opened.evidence(answers, q) == in_memory.evidence(answers, q)
    assert len(opened.doc_ids) == 3 and opened.doc_titles[2] == "Eiffel Tower"
    again, built = open_or_build_corpus_index(tmp_path / "ci", source, make_docs=lambda: 1 / 0)
    assert not built and len(again) == 6  # same source: opened, never re-read
    _, built = open_or_build_corpus_index(
        tmp_path / "ci",
        {**source, "corpus": "sha256:other"},
        make_docs=lambda: corpus_sentences(DOCS[:1]),
        show_progress=False,
    )
    assert built and len(CorpusIndex.open(tmp_path / "ci")) == 2


def test_postings_of_many_chunks_and_buckets(tmp_path, monkeypatch) -> None:
    """Sentences spread over several shards and postings over all 64 bucket files still give exact lookups."""
    import cbqa.overlap.corpus_overlap as co

    monkeypatch.setattr(co, "_CHUNK_SENTENCES", 7)
    words = [f"w{i}" for i in range(300)]
    docs = [
        Document(
            f"d{i}",
            " ".join(f"{words[(i * 7 + j) % 300]} {words[(i + j * 3) % 300]}.".capitalize() for j in range(3)),
            "",
        )
        for i in range(40)
    ]
    index = CorpusIndex(docs)
    assert len(index.manifest["sentence_shards"]) > 5
    for needle in ("w35 w5", "w7", "w273 w39", "w14"):
        want = [s for s in range(len(index)) if f" {needle} " in index._norm[s]]
        assert want
        assert index.sentences_with(needle) == want


def test_cli_keeps_the_corpus_index_next_to_the_labels_and_reuses_it(tmp_path, capsys) -> None:
    import json

    from cbqa.cli import main as cbqa_main
    from cbqa.core.formats import write_corpus

    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, DOCS)
    qa = [{"id": "t1", "question": "What is the capital of Poland?", "answers": ["Warsaw"]}]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    argv = [
        "overlap",
        "--train",
        str(tmp_path / "qa.jsonl"),
        "--test",
        str(tmp_path / "qa.jsonl"),
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "out" / "labels.jsonl"),
    ]
    for expected in ("indexed into", "index reused from"):
        with pytest.raises(SystemExit) as e:
            cbqa_main(argv)
        assert e.value.code == 0
        assert expected in capsys.readouterr().err
    row = json.loads((tmp_path / "out" / "labels.jsonl").read_text())
    assert row["corpus"]["evidence"]["sentence"] == "Warsaw is the capital of Poland."
    assert (tmp_path / "out" / "corpus_index" / "manifest.json").exists()


def _reference_evidence(docs: list[Document], answers: list[str], question: str, max_checked: int) -> dict:
    """The documented definitions, by brute force over every sentence's text."""
    from cbqa.core.metrics import normalize_answer

    sents = [
        (d, s, f" {normalize_answer(s)} ")
        for d, doc in enumerate(docs)
        for s in split_sentences(doc.text)
        if normalize_answer(s)
    ]
    hits = [
        (a, i)
        for a in dict.fromkeys(answers)
        if (n := normalize_answer(a))
        for i, (_, _, norm) in enumerate(sents)
        if f" {n} " in norm
    ]
    if not hits:
        return {"answer_in_corpus": False}
    terms = question_terms(question, answers).all()
    doc_text = {d: "".join(norm for dd, _, norm in sents if dd == d) for d in range(len(docs))}
    for scope, text_of in (("sentence", lambda i: sents[i][2]), ("passage", lambda i: doc_text[sents[i][0]])):
        found = [[t for t in terms if f" {t} " in text_of(i)] for _, i in hits[:max_checked]]
        if any(found):
            j = max(range(len(found)), key=lambda k: (len(found[k]), -k))
            return {
                "answer": hits[j][0],
                "sentence": sents[hits[j][1]][1],
                "scope": scope,
                "terms": found[j],
                "n": len({i for _, i in hits}),
                "doc": docs[sents[hits[j][1]][0]].id,
            }
    return {
        "answer": hits[0][0],
        "sentence": sents[hits[0][1]][1],
        "scope": None,
        "terms": [],
        "n": len({i for _, i in hits}),
        "doc": docs[sents[hits[0][1]][0]].id,
    }


def test_lookups_match_a_brute_force_scan_of_every_sentence() -> None:
    """Postings + Arrow substring checks give what scanning every sentence's text gives (random corpora over a tiny
    vocabulary, so phrases recur, out of order and across sentence ends; a small `max_checked` cap)."""
    import random

    words = "Ada Bo cat dog. ate the a red Paris. blue in.".split()
    for seed in range(40):
        rng = random.Random(seed)
        docs = [
            Document(f"d{i}", " ".join(rng.choice(words) for _ in range(rng.randint(0, 18))) + ".", f"T{i}")
            for i in range(rng.randint(1, 6))
        ]
        index = CorpusIndex(docs)
        for _ in range(6):
            answers = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 2))]
            question = "Which " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) + "?"
            cap = rng.choice([2, 2000])
            ev, ref = (
                index.evidence(answers, question, max_checked=cap),
                _reference_evidence(docs, answers, question, cap),
            )
            if ref.get("answer_in_corpus") is False:
                assert not ev.answer_in_corpus, (seed, answers, question)
                continue
            got = {
                "answer": ev.answer,
                "sentence": ev.sentence,
                "scope": ev.with_question_term,
                "terms": ev.matched_terms,
                "n": ev.answer_sentences,
                "doc": ev.doc_id,
            }
            assert got == ref, (seed, answers, question, cap)

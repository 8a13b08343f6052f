"""Knowledge overlap with a corpus: answer occurrence and question-term evidence."""

from __future__ import annotations

from cbqa.data.corpus import Document
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
        "Daniel B. Burke led St. George's church.", "Then more."]


def test_answer_occurrence_is_normalised_token_sequence_match() -> None:
    index = CorpusIndex(DOCS)
    assert len(index) == 6
    assert [index.sentences[s] for s in index.sentences_with("the warsaw")] == [
        "Marie Curie was born in Warsaw.", "Warsaw is the capital of Poland."]
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

"""Knowledge overlap with a pretraining corpus: does a gold answer occur in it, and next to the question's terms?

Definitions (documented in docs/overlap.md):

- Text is compared after `normalize_answer` (SQuAD: lowercase, no punctuation, no articles, folded
  whitespace), so an answer occurs in a sentence when its normalised token sequence is a contiguous
  token subsequence of the normalised sentence. Answers are matched within one sentence.
- Sentences are those of a spans store when one is given (`CorpusIndex.from_span_store`), else the project's one
  rule-based splitter (`ner_masking.sentences`, the rule `cbqa ner` also applies); spaCy never runs here, so this
  stays cheap on large corpora. A document is the "passage".
- Question terms are (a) entity-like spans: maximal runs of capitalised words of the question, not counting
  a capitalised first word that is a stopword or question word, and (b) content words: normalised question
  tokens that are not English stopwords (scikit-learn's list) or question words. Words of the answer itself
  are not question terms, so an answer cannot be its own evidence.
- `with_question_term` is "sentence" when some sentence holds both an answer and a question term, else
  "passage" when a document holds an answer sentence and a question term elsewhere, else null.

The index is an inverted index token -> sentence ids, so a lookup intersects the postings of the answer's
tokens (rarest first) and checks only the candidate sentences, instead of scanning the corpus per question.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cbqa.data.corpus import Document
from cbqa.metrics import normalize_answer
from ner_masking.sentences import split_sentences
from ner_masking.store import SpanStore

_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how name list tell give did does do is are was were".split()
)


def _stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _QUESTION_WORDS


@dataclass(frozen=True)
class QuestionTerms:
    entities: tuple[str, ...]  # normalised multi- or single-word spans
    content_words: tuple[str, ...]

    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.entities + self.content_words))


def question_terms(question: str, answers: Sequence[str] = (), stopwords: frozenset[str] | None = None) -> QuestionTerms:
    stop = _stopwords() if stopwords is None else stopwords
    answer_tokens = {t for a in answers for t in normalize_answer(a).split()}
    words = question.split()
    entities: list[str] = []
    run: list[str] = []
    for i, w in enumerate(words + [""]):  # sentinel flushes the last run
        stripped = w.strip("\"'“”‘’()[],.?!:;")
        capitalised = bool(stripped) and stripped[0].isupper()
        if capitalised and i == 0 and stripped.lower() in stop:
            capitalised = False  # "What", "The" at the start are not names
        if capitalised:
            run.append(stripped)
            continue
        if run:
            span = normalize_answer(" ".join(run))
            if span and not set(span.split()) <= answer_tokens:
                entities.append(span)
            run = []
    content = [
        t
        for t in normalize_answer(question).split()
        if t not in stop and t not in answer_tokens and len(t) > 1
    ]
    return QuestionTerms(tuple(dict.fromkeys(entities)), tuple(dict.fromkeys(content)))


@dataclass
class CorpusEvidence:
    answer_in_corpus: bool
    answer: str | None = None  # the gold alias that was found
    answer_sentences: int = 0  # sentences that contain some gold alias
    with_question_term: str | None = None  # "sentence" | "passage" | None
    matched_terms: list[str] = field(default_factory=list)
    doc_id: str | None = None
    title: str | None = None
    sentence: str | None = None  # the evidence sentence, as written in the corpus

    def to_json(self) -> dict[str, Any]:
        return {
            "answer_in_corpus": self.answer_in_corpus,
            "answer": self.answer,
            "answer_sentences": self.answer_sentences,
            "with_question_term": self.with_question_term,
            "matched_terms": self.matched_terms,
            "evidence": None
            if self.sentence is None
            else {"doc_id": self.doc_id, "title": self.title, "sentence": self.sentence},
        }


def _contains(haystack_padded: str, needle: str) -> bool:
    return f" {needle} " in haystack_padded


class CorpusIndex:
    """Sentences of a corpus, normalised, with an inverted index from token to sentence ids."""

    def __init__(self, docs: Iterable[Document]) -> None:
        self._start()
        for doc in docs:
            self._add(doc.id, doc.title, split_sentences(doc.text))
        self._doc_start.append(len(self.sentences))

    @classmethod
    def from_span_store(cls, store: SpanStore) -> CorpusIndex:
        """The sentences a spans store holds (the ones SSM masks in), instead of splitting the text again."""
        index = cls.__new__(cls)
        index._start()
        for d in store:
            index._add(d.id, d.title, [d.text[s:e] for s, e in d.sentences])
        index._doc_start.append(len(index.sentences))
        return index

    def _start(self) -> None:
        self._stop = _stopwords()
        self.sentences: list[str] = []  # raw text, for evidence
        self._norm: list[str] = []  # " normalised sentence " (padded for whole-token substring checks)
        self._sent_doc = array("i")
        self.doc_ids: list[str] = []
        self.doc_titles: list[str] = []
        self._doc_start = array("i")  # first sentence id of each doc; docs own contiguous sentence ids
        self._postings: dict[str, array] = {}

    def _add(self, doc_id: str, title: str, sentences: Iterable[str]) -> None:
        d = len(self.doc_ids)
        self.doc_ids.append(doc_id)
        self.doc_titles.append(title)
        self._doc_start.append(len(self.sentences))
        for sent in sentences:
            norm = normalize_answer(sent)
            if not norm:
                continue
            sid = len(self.sentences)
            self.sentences.append(sent)
            self._norm.append(f" {norm} ")
            self._sent_doc.append(d)
            for tok in set(norm.split()):
                self._postings.setdefault(tok, array("i")).append(sid)

    def __len__(self) -> int:
        return len(self.sentences)

    def sentences_with(self, answer: str) -> list[int]:
        """Ids of sentences whose normalised tokens contain the normalised answer contiguously."""
        norm = normalize_answer(answer)
        if not norm:
            return []
        tokens = sorted(set(norm.split()), key=lambda t: len(self._postings.get(t, ())))
        if not tokens or tokens[0] not in self._postings:
            return []
        candidates = set(self._postings[tokens[0]])
        for tok in tokens[1:]:
            candidates.intersection_update(self._postings[tok])
            if not candidates:
                return []
        return sorted(s for s in candidates if _contains(self._norm[s], norm))

    def _terms_in(self, padded: str, terms: Sequence[str]) -> list[str]:
        return [t for t in terms if _contains(padded, t)]

    def _doc_text(self, d: int) -> str:
        return "".join(self._norm[self._doc_start[d] : self._doc_start[d + 1]])

    def evidence(self, answers: Sequence[str], question: str, max_checked: int = 2000) -> CorpusEvidence:
        """Where a gold answer occurs, preferring a sentence that also holds the most question terms.

        At most `max_checked` answer sentences are inspected for question terms (an answer like "1" may
        occur everywhere); the answer-occurrence count itself is exact.
        """
        hits: list[tuple[str, int]] = []
        for a in dict.fromkeys(answers):
            hits.extend((a, s) for s in self.sentences_with(a))
        if not hits:
            return CorpusEvidence(answer_in_corpus=False)
        n_sentences = len({s for _, s in hits})
        terms = question_terms(question, answers, self._stop).all()
        best: tuple[int, str, int, list[str]] | None = None  # (n terms, alias, sentence, terms)
        for alias, s in hits[:max_checked]:
            found = self._terms_in(self._norm[s], terms)
            if found and (best is None or len(found) > best[0]):
                best = (len(found), alias, s, found)
        scope = "sentence"
        if best is None:
            scope = "passage"
            for alias, s in hits[:max_checked]:
                found = self._terms_in(self._doc_text(self._sent_doc[s]), terms)
                if found and (best is None or len(found) > best[0]):
                    best = (len(found), alias, s, found)
        if best is None:
            alias, s = hits[0]
            return self._make(alias, s, n_sentences, None, [])
        _, alias, s, found = best
        return self._make(alias, s, n_sentences, scope, found)

    def _make(self, alias: str, s: int, n: int, scope: str | None, found: list[str]) -> CorpusEvidence:
        d = self._sent_doc[s]
        return CorpusEvidence(
            answer_in_corpus=True,
            answer=alias,
            answer_sentences=n,
            with_question_term=scope,
            matched_terms=found,
            doc_id=self.doc_ids[d],
            title=self.doc_titles[d] or None,
            sentence=self.sentences[s],
        )

"""Reading examples for a Fusion-in-Decoder reader, made from a spans store (`cbqa reader reading-examples`).

A few hundred QA-train questions teach a small reader the answer format, and then to repeat train answers; what it
needs to learn *reading* is many examples whose answer is in the passages and is not one of a few hundred strings.
A spans store has them: every sentence with a salient span is a cloze question (`Title: ... <extra_id_0> ...`)
whose answer is the span, read over the passages retrieved for that sentence (`cbqa.reader.tasks` draws the span
afresh each epoch and leaves the sentence's own passage out when another passage states the span).

Only documents about entities that QA-train asks about are used: a document whose title occurs in a QA-train
question (whole words, case-insensitive), or that is a QA-train row's `passage_id` (SQuAD-style data). So a reader
never trains on the documents of entities held out of QA-train (the toy world's dev/test people), and no question
template of a data generator is involved: the clozes are the corpus's own sentences.

Output, one JSON row per sentence: `{"id": "<doc id>#<sentence>", "doc_id", "title", "sentence", "spans": [[start, end,
label], ...] (offsets into the sentence), "passages": [{"id", "title", "text", "score"}, ...] (best first)}`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.core.formats.jsonl import write_jsonl
from cbqa.core.formats.qa import QAExample

_WORD = re.compile(r"\w+")
MAX_TITLE_WORDS = 8


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class SubjectFilter:
    """Is a document about an entity QA-train asks about? (its title in a question, or its id a `passage_id`)"""

    def __init__(self, train: Iterable[QAExample], max_title_words: int = MAX_TITLE_WORDS) -> None:
        self.grams: set[tuple[str, ...]] = set()
        self.passage_ids: set[str] = set()
        for ex in train:
            words = _words(ex.question)
            for n in range(1, max_title_words + 1):
                self.grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
            pid = ex.extra.get("passage_id")
            if isinstance(pid, str):
                self.passage_ids.add(pid)
        self.max_title_words = max_title_words

    def __call__(self, doc_id: str, title: str) -> bool:
        if doc_id in self.passage_ids:
            return True
        words = tuple(_words(title))
        return 0 < len(words) <= self.max_title_words and words in self.grams


@dataclass(frozen=True)
class Sentence:
    id: str
    doc_id: str
    title: str
    text: str
    spans: list[tuple[int, int, str]]  # candidate answers, offsets into `text`

    def query(self) -> str:
        """What the sentence's passages are retrieved with: the title and the sentence without its candidates."""
        text, end = "", 0
        for s, e, _ in self.spans:
            text += self.text[end:s] + " "
            end = max(end, e)
        return " ".join(f"{self.title}: {text + self.text[end:]}".split())


def sentences_of(doc: Any, labels: Sequence[str] | None = None) -> list[Sentence]:
    """A document's sentences with at least one candidate span: a salient span (of `labels`, default all) inside the
    sentence whose text the title does not show (the title is part of the question)."""
    title = doc.title or ""
    out = []
    for j, (a, b) in enumerate(doc.sentences):
        spans = sorted(
            (s - a, e - a, lab)
            for s, e, lab in doc.spans
            if a <= s < e <= b and (labels is None or lab in labels) and doc.text[s:e].lower() not in title.lower()
        )
        if spans:
            out.append(Sentence(f"{doc.id}#{j}", doc.id, title, doc.text[a:b], spans))
    return out


@dataclass
class ReadingStats:
    documents: int = 0
    subject_documents: int = 0
    sentences: int = 0
    spans: int = 0
    labels: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "subject_documents": self.subject_documents,
            "sentences": self.sentences,
            "spans": self.spans,
            "labels": dict(sorted(self.labels.items())),
        }


def reading_sentences(
    store: Any,
    train: Sequence[QAExample],
    labels: Sequence[str] | None = None,
    max_sentences: int | None = None,
    seed: int = 0,
) -> tuple[list[Sentence], ReadingStats]:
    """Candidate sentences of the documents about QA-train's entities (a seeded sample of `max_sentences`)."""
    about = SubjectFilter(train)
    stats, out = ReadingStats(), []
    for doc in store:
        stats.documents += 1
        if not about(doc.id, doc.title):
            continue
        stats.subject_documents += 1
        out += sentences_of(doc, labels)
    if max_sentences is not None and len(out) > max_sentences:
        out = sorted(random.Random(seed).sample(out, max_sentences), key=lambda s: s.id)
    stats.sentences = len(out)
    for s in out:
        stats.spans += len(s.spans)
        for *_, lab in s.spans:
            stats.labels[lab] = stats.labels.get(lab, 0) + 1
    return out, stats


def write_reading_examples(
    spans: str | Path,
    train: Sequence[QAExample],
    index: Any,
    out: str | Path,
    k: int = 5,
    retriever: str = "hybrid",
    labels: Sequence[str] | None = None,
    max_sentences: int | None = None,
    seed: int = 0,
    batch_size: int = 512,
    progress: Any = None,
) -> ReadingStats:
    """Retrieve the top-k passages of every candidate sentence with `index` (a `retrieval_baseline` index) and write
    the reading examples to `out` (atomically)."""
    from ner_masking.store import load_span_store

    if k < 1:
        raise CbqaError(f"k must be >= 1, got {k}")
    if not train:
        raise CbqaError("the QA-train set is empty: no entity to take reading examples about")
    sentences, stats = reading_sentences(load_span_store(spans), train, labels, max_sentences, seed)
    if not sentences:
        raise CbqaError(
            f"{spans}: no document about an entity QA-train asks about has a salient span "
            f"({stats.documents} documents, {stats.subject_documents} about QA-train's entities)"
        )
    rows = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start : start + batch_size]
        for s, hits in zip(chunk, index.search([s.query() for s in chunk], k=k, retriever=retriever), strict=True):
            rows.append(
                {
                    "id": s.id,
                    "doc_id": s.doc_id,
                    "title": s.title,
                    "sentence": s.text,
                    "spans": [list(x) for x in s.spans],
                    "passages": [h.to_json() for h in hits],
                }
            )
        if progress is not None:
            progress(len(chunk))
    write_jsonl(out, rows)
    return stats

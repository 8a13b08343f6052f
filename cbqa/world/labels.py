"""Test-train overlap labels (Lewis, Stenetorp & Riedel 2021), computed from the QA rows alone.

Question overlap: the train split asks the same fact (same subject and relation), in any wording.
Answer overlap: some gold answer of the question equals, after SQuAD normalisation, some answer of some
train question (all aliases on both sides). The generator builds its splits to hit each category and then
relabels every dev/test question with this module, so the gold labels never rest on intent alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cbqa.core.formats import QAExample
from cbqa.core.metrics import normalize_answer


@dataclass(frozen=True)
class OverlapLabel:
    category: str  # question_overlap | answer_overlap_only | no_overlap | subject_in_train (not a category)
    labels: tuple[str, ...]
    paraphrase_of: str | None
    answer_in_train: bool


class TrainIndex:
    """What the train split asked: facts (subject, relation) -> first train id, subjects, normalised answers."""

    def __init__(self, train: Iterable[QAExample]) -> None:
        self.facts: dict[tuple[str, str], str] = {}
        self.subjects: set[str] = set()
        self.answers: set[str] = set()
        for q in train:
            key = (q.extra["subject_id"], q.extra["relation"])
            self.facts.setdefault(key, q.id)
            self.subjects.add(key[0])
            self.answers.update(normalize_answer(a) for a in q.answers)

    def answer_overlap(self, answers: Iterable[str]) -> bool:
        return any(normalize_answer(a) in self.answers for a in answers)

    def label(self, q: QAExample) -> OverlapLabel:
        key = (q.extra["subject_id"], q.extra["relation"])
        ao = self.answer_overlap(q.answers)
        ans_label = "answer_overlap" if ao else "no_answer_overlap"
        if key in self.facts:
            return OverlapLabel("question_overlap", ("total", "question_overlap", ans_label), self.facts[key], ao)
        labels = ("total", "no_question_overlap", ans_label) + (("answer_overlap_only",) if ao else ())
        if ao:
            category = "answer_overlap_only"
        elif key[0] in self.subjects:
            # Neither overlap, yet the subject is asked about in train: not the clean no_overlap the demo
            # needs (its facts are not corpus-only), so the generator never emits such a question.
            category = "subject_in_train"
        else:
            category = "no_overlap"
        return OverlapLabel(category, labels, None, ao)

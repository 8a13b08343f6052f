"""Answer overlap: does a test question's gold answer appear among the training answers?

Following Lewis et al. (2021), an answer overlaps when one of its SQuAD-normalised gold aliases equals one
normalised training answer alias (any alias of any training question).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cbqa.core.formats.qa import QAExample
from cbqa.core.metrics import normalize_answer


@dataclass(frozen=True)
class AnswerMatch:
    answer: str  # the test alias as written
    train_ids: tuple[str, ...]  # training questions that have it (first few)


class AnswerIndex:
    """Normalised training answer -> ids of training questions with that answer."""

    def __init__(self, train: Iterable[QAExample], max_ids: int = 5) -> None:
        self._ids: dict[str, list[str]] = {}
        for ex in train:
            for alias in dict.fromkeys(normalize_answer(a) for a in ex.answers):
                if not alias:  # an answer made only of punctuation/articles matches nothing
                    continue
                ids = self._ids.setdefault(alias, [])
                if len(ids) < max_ids:
                    ids.append(ex.id)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, answer: str) -> bool:
        norm = normalize_answer(answer)
        return bool(norm) and norm in self._ids

    def matches(self, answers: Sequence[str]) -> list[AnswerMatch]:
        """The test aliases found among training answers, with the training ids that have them."""
        out = []
        for a in answers:
            norm = normalize_answer(a)
            if norm and norm in self._ids:
                out.append(AnswerMatch(a, tuple(self._ids[norm])))
        return out

"""SQuAD answer normalisation and EM / F1, defined exactly as the QA-Overlap evaluation script
(Lewis et al. 2021) defines them: max over gold aliases, reported in percent by `score`."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lowercase, drop ASCII punctuation, drop articles, fold whitespace (the SQuAD order of steps)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def max_em(prediction: str, golds: Sequence[str]) -> float:
    return float(max(exact_match(prediction, g) for g in golds))


def max_f1(prediction: str, golds: Sequence[str]) -> float:
    return max(f1(prediction, g) for g in golds)


@dataclass(frozen=True)
class Scores:
    em: float  # percent
    f1: float  # percent
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"em": self.em, "f1": self.f1, "n": self.n}


def score(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> Scores:
    """Mean of per-question max-over-aliases EM and F1, in percent."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold answer lists")
    if not predictions:
        return Scores(0.0, 0.0, 0)
    ems = [max_em(p, g) for p, g in zip(predictions, golds)]
    f1s = [max_f1(p, g) for p, g in zip(predictions, golds)]
    n = len(predictions)
    return Scores(100.0 * sum(ems) / n, 100.0 * sum(f1s) / n, n)

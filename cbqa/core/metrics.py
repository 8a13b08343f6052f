"""Answer normalisation and EM / F1, max over gold aliases, reported in percent by `score`.

Two normalisers, as T5's closed-book tasks use them (t5/evaluation/qa_utils.py), chosen by name:
- `squad` (the default; SQuAD v1.1's evaluation script, and the QA-Overlap script of Lewis et al. 2021): lowercase,
  DELETE ASCII punctuation, remove the words a/an/the, fold whitespace. "well-known" -> "wellknown".
- `triviaqa` (TriviaQA's evaluation script): lowercase, REPLACE ASCII punctuation and the quotes ‘ ’ ´ ` (and _) with a
  space, remove a/an/the, fold whitespace, strip. "well-known" -> "well known", "‘Hero’" -> "hero".
The two agree on text without punctuation; they differ where punctuation joins words, and on curly quotes, which
SQuAD keeps. Retrieval's has-answer test keeps DPR's own tokenisation (retrieval_baseline.has_answer), not these.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SQUAD_PUNCT = frozenset(string.punctuation)
_TRIVIAQA_PUNCT = frozenset(string.punctuation + "‘’´`_")

Normaliser = Literal["squad", "triviaqa"]
NORMALISERS: tuple[str, ...] = get_args(Normaliser)
DEFAULT_NORMALISER: Normaliser = "squad"


def normalize_squad(s: str) -> str:
    """Lowercase, drop ASCII punctuation, drop articles, fold whitespace (the SQuAD order of steps)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _SQUAD_PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def normalize_triviaqa(s: str) -> str:
    """Lowercase, ASCII punctuation and ‘ ’ ´ ` _ replaced by a space, drop articles, fold whitespace, strip."""
    s = s.lower()
    s = "".join(" " if ch in _TRIVIAQA_PUNCT else ch for ch in s)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split()).strip()


normalize_answer = normalize_squad  # the project's default normaliser, by its historical name

_BY_NAME: dict[str, Callable[[str], str]] = {"squad": normalize_squad, "triviaqa": normalize_triviaqa}


def normaliser(name: str) -> Callable[[str], str]:
    """The normalising function called `name` (squad | triviaqa); ValueError for another name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown normaliser {name!r} ({' | '.join(NORMALISERS)})") from None


def exact_match(prediction: str, gold: str, normaliser_name: str = DEFAULT_NORMALISER) -> bool:
    norm = normaliser(normaliser_name)
    return norm(prediction) == norm(gold)


def f1(prediction: str, gold: str, normaliser_name: str = DEFAULT_NORMALISER) -> float:
    norm = normaliser(normaliser_name)
    pred_tokens = norm(prediction).split()
    gold_tokens = norm(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def max_em(prediction: str, golds: Sequence[str], normaliser_name: str = DEFAULT_NORMALISER) -> float:
    return float(max(exact_match(prediction, g, normaliser_name) for g in golds))


def max_f1(prediction: str, golds: Sequence[str], normaliser_name: str = DEFAULT_NORMALISER) -> float:
    return max(f1(prediction, g, normaliser_name) for g in golds)


@dataclass(frozen=True)
class Scores:
    em: float  # percent
    f1: float  # percent
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"em": self.em, "f1": self.f1, "n": self.n}


def score(
    predictions: Sequence[str], golds: Sequence[Sequence[str]], normaliser_name: str = DEFAULT_NORMALISER
) -> Scores:
    """Mean of per-question max-over-aliases EM and F1, in percent, after the normaliser `normaliser_name`."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold answer lists")
    normaliser(normaliser_name)  # an unknown name fails even without predictions
    if not predictions:
        return Scores(0.0, 0.0, 0)
    ems = [max_em(p, g, normaliser_name) for p, g in zip(predictions, golds)]
    f1s = [max_f1(p, g, normaliser_name) for p, g in zip(predictions, golds)]
    n = len(predictions)
    return Scores(100.0 * sum(ems) / n, 100.0 * sum(f1s) / n, n)

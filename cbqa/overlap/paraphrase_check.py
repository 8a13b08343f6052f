"""A constructed check of the question-overlap detector where the truth is known by construction.

Real question-overlap ground truth needs the training set the labels refer to (for NQ, NQ-train, which
is not shipped here). This check builds its own: from a pool of real questions it takes a random half as
positives and gives each a rule-based paraphrase in the training set; the other half are negatives whose
training-set counterpart is an *entity swap* (the question's rarest word replaced by another question's
rarest word: "who plays edward scissorhands" -> "who plays edward elric"), i.e. lexically close but a
different question. Optional distractor questions (e.g. SQuAD) pad the training set.

The paraphrases are lexical (wh-word and contraction rewrites, polite prefixes), so recall here is an
upper bound on recall for human paraphrases; the entity swaps make precision a meaningful test.

    python -m cbqa.overlap.paraphrase_check --pool webquestions/test.jsonl --distractors squad/qa.jsonl

With `--shared-answer` the check follows the detector's default, Lewis et al.'s definition: a test question is
compared only with training questions that share a normalised answer with it. The entity swaps then keep the
original question's answer (a lexically close, *different* question with the same answer: the hard negative of
that setting); without it they get a different answer, and only similarity is tested. `shared_answer_scores`,
`sweep` and `best_threshold` are what the detector's default threshold was chosen with
(experiments/overlap_threshold.py adds the toy world's paraphrase pairs; the numbers are in
docs/notes/2026-12-01-overlap-threshold.md).
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from cbqa.core.formats.qa import QAExample, read_qa
from cbqa.overlap.labeller import shared_answer_rows
from cbqa.overlap.question_similarity import QuestionIndex, build_index, search, search_among

# (pattern, replacement) rewrites that keep the meaning; applied in order, all that match.
_REWRITES: tuple[tuple[str, str], ...] = (
    (r"^what is the name of ", "name "),
    (r"^what is ", "what's "),
    (r"^who is ", "who's "),
    (r"^where is ", "where's "),
    (r"^when did ", "in what year did "),
    (r"^what year did ", "when did "),
    (r"^who plays ", "which actor plays "),
    (r"^who played ", "which actor played "),
    (r"^what kind of ", "what type of "),
    (r"^where did (.+) go to school", r"which school did \1 attend"),
    (r"^where did (.+) go to college", r"which college did \1 attend"),
    (r"^what (\w+) does ", r"which \1 does "),
    (r"^what (\w+) did ", r"which \1 did "),
    (r"^what ", "which "),
)
_PREFIXES = ("", "can you tell me ", "do you know ", "i wonder ")


def paraphrase(question: str, rng: random.Random) -> str:
    q = question.strip().rstrip("?").strip().lower()
    for pattern, repl in _REWRITES:
        new = re.sub(pattern, repl, q)
        if new != q:
            q = new
            break  # one wh-rewrite: stacking them turns "what is" into "which's"
    return rng.choice(_PREFIXES) + q + rng.choice(("?", "", " ?"))


def _rarest(question: str, df: Counter[str]) -> str | None:
    words = [w for w in re.findall(r"[a-z0-9']+", question.lower()) if len(w) > 2]
    return min(words, key=lambda w: (df[w], w)) if words else None


def entity_swap(question: str, donor: str, df: Counter[str]) -> str | None:
    target, replacement = _rarest(question, df), _rarest(donor, df)
    if target is None or replacement is None or target == replacement:
        return None
    return re.sub(rf"\b{re.escape(target)}\b", replacement, question.lower(), count=1)


@dataclass(frozen=True)
class CheckSet:
    train: list[QAExample]
    test: list[QAExample]
    positive_ids: frozenset[str]


def build_check(
    pool: Sequence[QAExample], distractors: Sequence[QAExample], seed: int = 0, same_answer_swaps: bool = False
) -> CheckSet:
    rng = random.Random(seed)
    df: Counter[str] = Counter(w for ex in pool for w in set(re.findall(r"[a-z0-9']+", ex.question.lower())))
    order = list(pool)
    rng.shuffle(order)
    half = len(order) // 2
    train: list[QAExample] = [QAExample(f"distractor-{d.id}", d.question, d.answers) for d in distractors]
    test, positives = [], set()
    for i, ex in enumerate(order):
        if i < half:
            train.append(QAExample(f"para-{ex.id}", paraphrase(ex.question, rng), ex.answers))
            positives.add(ex.id)
        else:
            swapped = entity_swap(ex.question, order[rng.randrange(len(order))].question, df)
            if swapped is None:
                continue
            train.append(
                QAExample(f"swap-{ex.id}", swapped, list(ex.answers) if same_answer_swaps else ["(different answer)"])
            )
        test.append(ex)
    return CheckSet(train, test, frozenset(positives))


def shared_answer_scores(
    index: QuestionIndex, train: Sequence[QAExample], test: Sequence[QAExample]
) -> list[float | None]:
    """Per test question, the best similarity among the training questions (of `index`, built on `train`) that share a
    normalised answer with it; None when none does (then it can never be a question overlap)."""
    best = search_among(index, [ex.question for ex in test], shared_answer_rows(train, test), 1)
    return [b[0].score if b else None for b in best]


def sweep(
    scores: Sequence[float | None], positive: Sequence[bool], thresholds: Sequence[float]
) -> list[dict[str, float]]:
    """Precision / recall / F1 of "overlap iff score >= t" per threshold (a None score is never an overlap)."""
    out = []
    for t in thresholds:
        hit = [s is not None and s >= t for s in scores]
        tp = sum(h and p for h, p in zip(hit, positive))
        fp = sum(h and not p for h, p in zip(hit, positive))
        fn = sum(not h and p for h, p in zip(hit, positive))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out.append({"threshold": t, "precision": prec, "recall": rec, "f1": f})
    return out


def best_threshold(
    sources: dict[str, tuple[Sequence[float | None], Sequence[bool]]], thresholds: Sequence[float]
) -> tuple[float, dict[str, dict[str, float]]]:
    """The threshold with the highest mean F1 over the labelled sources (each source weighs the same, however many
    pairs it has; the lowest such threshold on a tie), and every source's precision / recall / F1 there."""
    rows = {name: sweep(scores, positive, thresholds) for name, (scores, positive) in sources.items()}
    mean = [sum(r[i]["f1"] for r in rows.values()) / len(rows) for i in range(len(thresholds))]
    i = max(range(len(thresholds)), key=lambda j: (mean[j], -j))
    return thresholds[i], {name: r[i] for name, r in rows.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cbqa.overlap.paraphrase_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", required=True, help="QA file whose questions become positives/negatives")
    p.add_argument("--distractors", help="QA file of unrelated questions added to the training side")
    p.add_argument("--method", choices=["tfidf", "dense"], action="append", help="default: both")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--shared-answer",
        action="store_true",
        help="compare only with training questions sharing an answer (the detector's default); swaps keep the answer",
    )
    args = p.parse_args(argv)
    start = time.perf_counter()
    check = build_check(
        read_qa(args.pool),
        read_qa(args.distractors) if args.distractors else [],
        args.seed,
        same_answer_swaps=args.shared_answer,
    )
    positive = [ex.id in check.positive_ids for ex in check.test]
    console = Console()
    console.print(
        f"{len(check.test)} test questions ({sum(positive)} with a paraphrase in train), "
        f"{len(check.train)} training questions"
    )
    for method in args.method or ["tfidf", "dense"]:
        index = build_index(method, check.train)
        if args.shared_answer:
            scores = shared_answer_scores(index, check.train, check.test)
        else:
            scores = [n[0].score for n in search(index, [ex.question for ex in check.test], 1)]
        table = Table(title=f"{method}: question-overlap decision vs constructed truth")
        for col in ("threshold", "precision", "recall", "F1"):
            table.add_column(col, justify="right")
        for row in sweep(scores, positive, [round(0.4 + 0.05 * i, 2) for i in range(12)]):
            table.add_row(
                *(
                    f"{row[k]:.2f}" if k == "threshold" else f"{100 * row[k]:.1f}%"
                    for k in ("threshold", "precision", "recall", "f1")
                )
            )
        console.print(table)
    console.print(f"done in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

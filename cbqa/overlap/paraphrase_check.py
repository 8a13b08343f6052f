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

from cbqa.data.qa import QAExample, read_qa
from cbqa.overlap.question_similarity import build_index, search

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


def build_check(pool: Sequence[QAExample], distractors: Sequence[QAExample], seed: int = 0) -> CheckSet:
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
            train.append(QAExample(f"swap-{ex.id}", swapped, ["(different answer)"]))
        test.append(ex)
    return CheckSet(train, test, frozenset(positives))


def sweep(scores: Sequence[float], positive: Sequence[bool], thresholds: Sequence[float]) -> list[dict[str, float]]:
    out = []
    for t in thresholds:
        tp = sum(s >= t and p for s, p in zip(scores, positive))
        fp = sum(s >= t and not p for s, p in zip(scores, positive))
        fn = sum(s < t and p for s, p in zip(scores, positive))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out.append({"threshold": t, "precision": prec, "recall": rec, "f1": f})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cbqa.overlap.paraphrase_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", required=True, help="QA file whose questions become positives/negatives")
    p.add_argument("--distractors", help="QA file of unrelated questions added to the training side")
    p.add_argument("--method", choices=["tfidf", "dense"], action="append", help="default: both")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    start = time.perf_counter()
    check = build_check(read_qa(args.pool), read_qa(args.distractors) if args.distractors else [], args.seed)
    positive = [ex.id in check.positive_ids for ex in check.test]
    console = Console()
    console.print(f"{len(check.test)} test questions ({sum(positive)} with a paraphrase in train), "
                  f"{len(check.train)} training questions")
    for method in args.method or ["tfidf", "dense"]:
        index = build_index(method, check.train)
        scores = [n[0].score for n in search(index, [ex.question for ex in check.test], 1)]
        table = Table(title=f"{method}: question-overlap decision vs constructed truth")
        for col in ("threshold", "precision", "recall", "F1"):
            table.add_column(col, justify="right")
        for row in sweep(scores, positive, [round(0.4 + 0.05 * i, 2) for i in range(12)]):
            table.add_row(*(f"{row[k]:.2f}" if k == "threshold" else f"{100 * row[k]:.1f}%"
                            for k in ("threshold", "precision", "recall", "f1")))
        console.print(table)
    console.print(f"done in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

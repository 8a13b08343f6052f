"""`cbqa nn-baseline`: answer each test question with the answer of its most similar training question.

Lewis et al. (2021) use such nearest-neighbour systems to show how far memorising training pairs goes.
The output is an ordinary predictions file, so `cbqa evaluate` scores it like any other system.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from cbqa.core.formats.predictions import Prediction, write_predictions
from cbqa.core.formats.qa import QAExample, read_qa
from cbqa.overlap.question_similarity import METHODS, QuestionIndex, build_index, search


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cbqa nn-baseline", description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True, help="training QA file")
    p.add_argument("--train-split", help="keep only training rows with this `split`")
    p.add_argument("--test", required=True, help="test QA file")
    p.add_argument("--test-split", help="keep only test rows with this `split`")
    p.add_argument("--method", choices=METHODS, default="tfidf")
    p.add_argument("--model", help="sentence-transformers model for --method dense (default: offline MiniLM)")
    p.add_argument("--out", required=True, help="predictions JSONL")
    return p


def nn_predictions(index: QuestionIndex, test: list[QAExample]) -> list[Prediction]:
    """The first answer of the nearest training question; its id and similarity go in the extra fields."""
    out = []
    for ex, neighbours in zip(test, search(index, [ex.question for ex in test], 1)):
        best = neighbours[0]
        out.append(
            Prediction(
                ex.id,
                ex.question,
                best.answers[0],
                ex.answers,
                {
                    "system": f"nn-{index.name}",
                    "neighbour_id": best.id,
                    "neighbour_question": best.question,
                    "score": round(best.score, 4),
                },
            )
        )
    return out


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    train = read_qa(args.train, args.train_split)
    test = read_qa(args.test, args.test_split)
    console = Console(stderr=True)
    with console.status(f"{args.method}: indexing {len(train)} training questions, answering {len(test)} ..."):
        index = build_index(args.method, train, model=args.model)
        preds = nn_predictions(index, test)
    write_predictions(args.out, preds)
    console.print(f"wrote {len(preds)} predictions to {args.out} in {time.perf_counter() - start:.1f}s")
    return 0

"""`cbqa predict`: answer questions with a trained model and write a predictions JSONL file."""

from __future__ import annotations

import argparse
import sys
import time

from cbqa.core.errors import CbqaError
from cbqa.core.formats import Prediction, read_qa, write_predictions
from cbqa.core.formats.jsonl import write_json
from cbqa.core.metrics import DEFAULT_NORMALISER, NORMALISERS, score
from cbqa.core.progress import progress_bar


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cbqa predict", description=__doc__)
    ap.add_argument("--model", required=True, help="run directory (uses RUN/hf), HF model directory, or hub name")
    ap.add_argument(
        "--questions", required=True, help="QA file in any format cbqa reads (gold answers optional in ours)"
    )
    ap.add_argument("--split", default=None, help="keep only rows with this `split`")
    ap.add_argument("--out", required=True, help="predictions JSONL to write")
    ap.add_argument("--num-beams", type=int, default=1, help="1 = greedy")
    ap.add_argument("--top-k", type=int, default=1, help="also store this many beam candidates with scores (<= beams)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument(
        "--prefix",
        default=None,
        help="input prefix (default: the one the model was trained with, recorded in its export; else 'question: ')",
    )
    ap.add_argument("--task", help="with a model trained on several QA tasks: the task whose prefix to use")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument(
        "--normaliser",
        choices=NORMALISERS,
        default=DEFAULT_NORMALISER,
        help="normaliser of the EM/F1 printed for questions with answers (squad | triviaqa; recorded in .meta.json)",
    )
    args = ap.parse_args(argv)
    if args.top_k > max(args.num_beams, 1):
        raise CbqaError(f"--top-k {args.top_k} needs at least as many --num-beams")

    from cbqa.model.inference import Answerer  # torch and transformers: not needed for --help or a bad argument
    from cbqa.model.inputs import recorded_prefix

    examples = read_qa(args.questions, split=args.split, require_answers=False)
    recorded = recorded_prefix(args.model, args.task)
    prefix = recorded if args.prefix is None else args.prefix
    if recorded is not None and prefix != recorded:
        print(f"note: --prefix {prefix!r} differs from the {recorded!r} the model was trained with", file=sys.stderr)
    answerer = Answerer(args.model, args.device, prefix)
    t0 = time.perf_counter()
    with progress_bar("predict", total=len(examples)) as advance:
        cands = answerer.answer(
            [e.question for e in examples],
            num_beams=args.num_beams,
            num_return=args.top_k,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            progress=advance,
        )
    secs = time.perf_counter() - t0
    preds = []
    for e, c in zip(examples, cands):
        extra = {"candidates": [{"text": x.text, "score": x.score} for x in c]} if args.top_k > 1 else {}
        preds.append(Prediction(e.id, e.question, c[0].text, e.answers or None, extra))
    write_predictions(args.out, preds)
    meta = {
        "model": args.model,
        "questions": args.questions,
        "prefix": prefix,
        "trained_prefix": recorded,
        "normaliser": args.normaliser,
    }
    write_json(f"{args.out}.meta.json", meta)
    msg = f"wrote {len(preds)} predictions to {args.out} ({len(preds) / secs:.1f} questions/s)"
    gold = [p for p in preds if p.answers]
    if gold:
        s = score([p.prediction for p in gold], [p.answers for p in gold], args.normaliser)
        msg += f"; EM {s.em:.2f} F1 {s.f1:.2f} ({args.normaliser}) on the {s.n} questions with answers"
    print(msg)
    return 0

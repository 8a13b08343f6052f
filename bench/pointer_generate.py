"""Benchmark: a copy-head reader's answers with its copy keys computed once per `generate` (what `cbqa.reader.copy_head` does)
against the bare baseline of recomputing them at every decoding step, same model, questions and beams, in one run.

The answers must be identical (the check fails otherwise); the ratio is baseline time / cached time over
`Reader.read` (anonymisation included, spaCy's passage annotations warmed up before either is timed).

    python bench/pointer_generate.py [--model runs/demo/models/reader] [--retrieved runs/demo/retrieval/test.jsonl]
                                     [--questions 280] [--beams 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="runs/demo/models/reader", help="a FiD reader with a copy head (make demo's)")
    ap.add_argument("--retrieved", default="runs/demo/retrieval/test.jsonl", type=Path)
    ap.add_argument("--questions", default=280, type=int)
    ap.add_argument("--beams", default=4, type=int)
    ap.add_argument("--repeats", default=2, type=int, help="timed passes of each; the fastest counts")
    args = ap.parse_args(argv)
    for path in (Path(args.model), args.retrieved):
        if not path.exists():
            print(f"error: {path} does not exist (run `make demo`, or pass --model / --retrieved)", file=sys.stderr)
            return 2

    import torch

    from cbqa.reader.answering import Reader
    from cbqa.reader.copy_head import PointerT5, is_pointer
    from retrieval_baseline.retrieved import hits_of

    reader = Reader(args.model, device="cpu")
    if not is_pointer(reader.net):
        print(f"error: {args.model} has no copy head (train it with --model.pointer true)", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in args.retrieved.read_text().splitlines()[: args.questions]]
    questions, passages = [r["question"] for r in rows], [hits_of(r) for r in rows]
    reader.read(questions, passages, num_beams=args.beams)  # warm-up: spaCy annotations, threads, allocator

    def timed() -> tuple[float, list[str]]:
        best, answers = float("inf"), []
        for _ in range(args.repeats):
            start = time.perf_counter()
            answers = [c[0].text for c in reader.read(questions, passages, num_beams=args.beams)]
            best = min(best, time.perf_counter() - start)
        return best, answers

    cached_s, cached = timed()
    keep = PointerT5._copy_keys
    PointerT5._copy_keys = lambda self, encoder, mask, holder: self.copy_head.keys(encoder, mask)  # the baseline
    try:
        baseline_s, baseline = timed()
    finally:
        PointerT5._copy_keys = keep
    same = cached == baseline
    print(
        f"{len(rows)} questions, beam {args.beams}, {torch.get_num_threads()} torch threads, window "
        f"{reader.net.copy_head.window}: keys per step {baseline_s:.2f} s, once per generate {cached_s:.2f} s, "
        f"ratio {baseline_s / cached_s:.2f}x; identical answers: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

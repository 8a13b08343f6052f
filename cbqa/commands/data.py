"""`cbqa data`: standard QA benchmarks as QA JSONL with the paper's protocol (`cbqa data prepare NAME --out DIR`)."""

from __future__ import annotations

import argparse
import sys

from cbqa.benchmarks.protocols import DATASETS, PROTOCOLS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cbqa data", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    prep = actions.add_parser(
        "prepare",
        prog="cbqa data prepare",
        help="write train / validation / test QA JSONL of a benchmark, split by its protocol, with a manifest",
        description="Write OUT/{train,validation,test}.jsonl and OUT/dataset.json (the manifest): the dataset split as Roberts et al. "
        "(2020) split it (t5_closed_book_qa's tasks), in the source's order, with every answer kept; the manifest "
        "records the sources' fingerprints, the protocol, counts, input prefix, normaliser and a fingerprint of the "
        "held-out ids.",
    )
    prep.add_argument("name", choices=list(DATASETS), metavar="NAME", help=" | ".join(DATASETS))
    prep.add_argument("--out", required=True, help="directory to write (replaced whole, atomically)")
    prep.add_argument(
        "--source",
        default="hf",
        help="hf (the Hugging Face dataset, datasets.load_dataset; default) or a directory of the original files "
        "(NQ-open.{train,dev}.jsonl; WebQuestions {train,test}.jsonl or webquestions.examples.*.json; TriviaQA's "
        "unfiltered-web-*.json; EntityQuestions' {train,dev,test}/P*.json; EfficientQA's NQ-open.efficientqa.*.jsonl)",
    )
    prep.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="heldout",
        help="heldout: the last part of train is the validation set that chooses the checkpoint (default); full: the "
        "whole train split (TriviaQA: train + validation, tested on its hidden test set), no validation set",
    )
    prep.add_argument(
        "--relation", action="append", default=[], metavar="PID", help="entity_questions: keep this relation (repeat)"
    )
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from pathlib import Path

    from cbqa.benchmarks.prepare import prepare
    from cbqa.core.locks import writer_lock

    out = Path(args.out)
    with writer_lock(out, "cbqa data prepare"):
        manifest = prepare(DATASETS[args.name], out, args.source, args.protocol, args.relation)
    counts = ", ".join(f"{name} {s.rows:,}" for name, s in manifest.splits.items())
    print(f"{manifest.title} ({manifest.protocol}): {counts}; prefix {manifest.prefix!r}, {manifest.normaliser} EM")
    if manifest.heldout_ids_fingerprint:
        print(f"held-out ids: {manifest.heldout_ids_fingerprint[:23]}... ({manifest.splits['validation'].parts[0]})")
    print(f"wrote {out}/: train.jsonl, validation.jsonl, test.jsonl, dataset.json", file=sys.stderr)
    return 0

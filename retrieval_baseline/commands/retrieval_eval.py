"""`cbqa retrieval-eval`: top-k answer recall (DPR has_answer) of retrieved files, or straight from an index."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa retrieval-eval",
        description="Top-k answer recall: percent of questions with a passage in the top k that contains an answer "
        "(DPR's has_answer: answer tokens appear in the passage tokens, uncased, punctuation split). "
        "Evaluate `cbqa retrieve` files (--retrieved), or retrieve and evaluate from an index (--index).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--retrieved", nargs="+", metavar="FILE", help="retrieved JSONL files (one table row each)")
    src.add_argument("--index", help="index directory: retrieve for --questions with each --retriever, then evaluate")
    p.add_argument("--questions", help="with --index: QA file")
    p.add_argument("--split", default=None, help="with --index: keep only this split")
    p.add_argument(
        "--retriever",
        nargs="+",
        choices=("dense", "bm25", "hybrid"),
        default=["dense"],
        help="with --index: retrievers to evaluate (default dense)",
    )
    p.add_argument("--names", nargs="+", default=None, help="row names (default: file stems / retriever names)")
    p.add_argument("--ks", nargs="+", type=int, default=[1, 5, 20, 100], help="cut-offs (default 1 5 20 100)")
    p.add_argument(
        "--reference",
        default=None,
        metavar="FILE",
        help="retrieved file of exact (flat) search: adds the overlap of each run's top-k ids with it",
    )
    p.add_argument("--overlap-k", type=int, default=10, help="k for --reference overlap (default 10)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the results as JSON")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from rich.console import Console

    from cbqa.core.errors import CbqaError
    from cbqa.core.formats.jsonl import write_json
    from retrieval_baseline.evaluate import evaluate, read_retrieved, recall_table, topk_overlap

    if any(k < 1 for k in args.ks):
        raise CbqaError(f"--ks must all be >= 1, got {args.ks}")
    runs: list[tuple[str, list, float | None]] = []
    if args.retrieved:
        for path in args.retrieved:
            runs.append((Path(path).stem, read_retrieved(path), None))
    else:
        if not args.questions:
            raise CbqaError("--index needs --questions")
        from cbqa.core.formats import read_qa
        from retrieval_baseline.index_dir import load_index
        from retrieval_baseline.retriever import retrieve_examples

        examples = read_qa(args.questions, split=args.split)
        index = load_index(args.index)
        for retriever in args.retriever:
            t0 = time.perf_counter()
            runs.append(
                (retriever, retrieve_examples(index, examples, max(args.ks), retriever), time.perf_counter() - t0)
            )
    names = args.names or [name for name, _, _ in runs]
    if len(names) != len(runs):
        raise CbqaError(f"--names has {len(names)} names for {len(runs)} runs")
    results = [evaluate(name, questions, args.ks) for name, (_, questions, _) in zip(names, runs)]
    label = None
    if args.reference:
        reference = read_retrieved(args.reference)
        results = [
            replace(r, overlap=topk_overlap(qs, reference, args.overlap_k)) for r, (_, qs, _) in zip(results, runs)
        ]
        label = f"overlap@{args.overlap_k} vs {Path(args.reference).stem}"
    Console().print(recall_table(results, args.ks, label))
    if args.json:
        rows = [
            {**r.to_json(), **({"seconds": round(s, 2)} if s is not None else {})}
            for r, (_, _, s) in zip(results, runs)
        ]
        extra = {"reference": args.reference, "overlap_k": args.overlap_k} if args.reference else {}
        write_json(args.json, {"ks": args.ks, **extra, "results": rows})
        print(f"wrote {args.json}")
    return 0

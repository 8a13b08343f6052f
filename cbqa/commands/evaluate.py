"""`cbqa evaluate`: EM / F1 of prediction files, overall and per test-train overlap category."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.jsonl import read_jsonl, write_json
from cbqa.core.formats.qa import read_qa
from cbqa.core.io import atomic_writer
from cbqa.core.metrics import DEFAULT_NORMALISER, NORMALISERS
from cbqa.overlap.categories import TOTAL
from cbqa.overlap.evaluation import coverage, evaluate_systems, load_predictions


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa evaluate",
        description="Score prediction files (EM/F1, max over gold aliases); with --overlap or several systems, "
        "also per Lewis et al. overlap category, as a table, markdown, JSON and a bar chart.",
    )
    p.add_argument(
        "--predictions",
        nargs="+",
        required=True,
        metavar="[NAME=]FILE",
        help="predictions JSONL; system name = file stem unless given as name=path",
    )
    p.add_argument("--gold", help="gold QA file (any read_qa format); predictions join to it by id")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="with --gold, score only predicted questions instead of failing on missing ones",
    )
    p.add_argument(
        "--allow-different-questions",
        action="store_true",
        help="systems that answered different question sets: score each on the questions they all answered",
    )
    p.add_argument("--overlap", help="overlap labels JSONL (cbqa overlap --out), joined by id")
    p.add_argument(
        "--normaliser",
        choices=NORMALISERS,
        default=DEFAULT_NORMALISER,
        help="how answers are normalised before EM/F1: squad (delete punctuation; NQ, WebQuestions) or triviaqa "
        "(punctuation and curly quotes become spaces; TriviaQA), as T5's closed-book tasks score them "
        f"(default {DEFAULT_NORMALISER}); every results file says which one made it",
    )
    p.add_argument("--json", metavar="OUT", help="write scores as JSON")
    p.add_argument("--markdown", metavar="OUT", help="write the table as markdown")
    p.add_argument("--plot", metavar="OUT.png", help="write a grouped bar chart of EM per category")
    return p


def parse_systems(specs: list[str]) -> dict[str, Path]:
    systems: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name:  # a plain path (a path may itself hold '=' only after a name)
            name, path = Path(spec).stem, spec
        if name in systems:
            raise CbqaError(f"two prediction files named {name!r}; use name=path to tell them apart")
        systems[name] = Path(path)
    return systems


def _read_overlap(path: str) -> list[dict]:
    rows = []
    for line, obj in read_jsonl(path):
        if "id" not in obj:
            raise DataError(path, line, "missing 'id'")
        if not isinstance(obj.get("labels"), list):
            raise DataError(path, line, "missing 'labels' list (is this a `cbqa overlap --out` file?)")
        rows.append(obj)
    return rows


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    systems = parse_systems(args.predictions)
    gold = read_qa(args.gold) if args.gold else None
    preds = {name: load_predictions(path, need_answers=gold is None) for name, path in systems.items()}
    overlap = _read_overlap(args.overlap) if args.overlap else None
    result = evaluate_systems(
        preds,
        gold,
        overlap,
        allow_missing=args.allow_missing,
        normaliser=args.normaliser,
        shared_only=args.allow_different_questions,
    )
    out, err = Console(), Console(stderr=True)
    sizes = {len({p.id for p in v}) for v in preds.values()}
    if len(sizes) > 1:  # (--allow-different-questions: scored on the shared ones)
        n = next(iter(result.values()))[TOTAL]["n"]
        err.print(f"the systems answered different questions; each is scored on the {n} they all answered")
    basic = len(result) == 1 and overlap is None
    if basic:
        ((name, per),) = result.items()
        s = per[TOTAL]
        em = "-" if s["em"] is None else f"{s['em']:.2f}"
        f1 = "-" if s["f1"] is None else f"{s['f1']:.2f}"
        out.print(f"{name}: EM {em}  F1 {f1}  n {s['n']}  ({args.normaliser} normaliser)")
    else:
        from cbqa.overlap.report import copying_table, results_table

        out.print(results_table(result))
        copying = copying_table(result)
        if copying is not None:
            out.print(copying)
    if gold is not None and args.allow_missing:
        for name, c in coverage(preds, gold, True).items():
            err.print(f"{name}: scored {c.scored} of {c.gold} gold questions")
    written = []
    if args.json:
        write_json(args.json, result[next(iter(result))][TOTAL] if basic else result)
        written.append(args.json)
    if args.markdown:
        from cbqa.overlap.report import results_markdown

        with atomic_writer(args.markdown) as f:
            f.write(results_markdown(result))
        written.append(args.markdown)
    if args.plot:
        from cbqa.overlap.report import plot_results

        plot_results(result, args.plot)
        written.append(args.plot)
    for path in written:
        err.print(f"wrote {path}")
    return 0

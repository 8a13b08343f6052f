"""`cbqa mask`: preview what a masking policy makes of a spans store."""

from __future__ import annotations

import argparse
from pathlib import Path

from ner_masking.policies import POLICY_NAMES, make_policy, parse_option, policy_options
from ner_masking.preview import preview_table, sample_examples
from ner_masking.store import load_span_store


def build_parser() -> argparse.ArgumentParser:
    options = "; ".join(f"{name}: {', '.join(policy_options(name))}" for name in POLICY_NAMES)
    p = argparse.ArgumentParser(
        prog="cbqa mask",
        description="Print T5 (input, target) examples that a masking policy makes from a spans store "
        "(made by `cbqa ner`).",
        epilog=f"policy options -- {options}",
    )
    p.add_argument("--spans", required=True, type=Path, help="spans store directory")
    p.add_argument("--policy", default="ssm", choices=POLICY_NAMES, help="masking policy (default: %(default)s)")
    p.add_argument("--preview", type=int, default=8, metavar="N", help="examples to print (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="policy option, repeatable: labels=DATE,GPE  exclude_labels=PERSON  context=passage  budget=64  "
        "weights=ssm:0.8,span_corruption:0.2",
    )
    return p


def main(argv: list[str]) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    policy = make_policy(args.policy, **dict(parse_option(o) for o in args.option))
    store = load_span_store(args.spans)
    rows = sample_examples(store, policy, args.preview, args.seed)
    console = Console()
    console.print(preview_table(rows, f"{args.policy} on {args.spans} (seed {args.seed})"))
    if len(rows) < args.preview:
        console.print(f"[yellow]only {len(rows)} of {len(store)} documents had something to mask")
    return 0

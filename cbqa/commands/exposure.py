"""`cbqa exposure`: how far up each model ranks each canary's secret among all candidates (Carlini et al. 2019).

exposure = log2 |R| - log2 rank, ranked by the log-likelihood of `<extra_id_0> SECRET <extra_id_1>` given the canary
sentence with its secret replaced by `<extra_id_0>`; exact up to `--exact-limit` candidates, else estimated from
`--samples` uniform candidates with the paper's skew-normal fit (docs/memorisation.md). With `--spans` (a spans
store of the canaried corpus, `cbqa ner --corpus CANARIES/corpus.jsonl`) canaries are split by whether the NER pass
marks the secret as salient; without it the split is "unknown".

    cbqa exposure --model runs/can/none runs/can/ssm --canaries runs/canaries --spans runs/canaries-spans --out runs/exposure

Writes OUT/exposure.json (per canary and the means) and OUT/exposure.png; prints the table of means.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from cbqa.core.errors import CbqaError
    from cbqa.memorisation.exposure import DEFAULT_EXACT_LIMIT, DEFAULT_SAMPLES
    from cbqa.memorisation.run_exposure import ExposureConfig, run_exposure

    ap = argparse.ArgumentParser(
        prog="cbqa exposure", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", nargs="+", required=True, help="training run dirs, HF model dirs or hub names")
    ap.add_argument("--canaries", required=True, help="directory written by `cbqa canaries`")
    ap.add_argument("--spans", help="spans store of the canaried corpus: split canaries by NER salience of the secret")
    ap.add_argument("--out", required=True, help="directory for exposure.json and exposure.png")
    ap.add_argument(
        "--exact-limit",
        type=int,
        default=DEFAULT_EXACT_LIMIT,
        help=f"score every candidate when |R| is at most this (default {DEFAULT_EXACT_LIMIT:,})",
    )
    ap.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"candidates sampled per canary for larger spaces (default {DEFAULT_SAMPLES:,})",
    )
    ap.add_argument("--batch-size", type=int, default=1024, help="candidates scored per forward pass")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        raise CbqaError(f"--batch-size must be >= 1, got {args.batch_size}")

    cfg = ExposureConfig(args.exact_limit, args.samples, args.batch_size, args.seed, args.device)
    result = run_exposure(args.model, args.canaries, args.spans, Path(args.out), cfg)

    from rich.console import Console
    from rich.table import Table

    groups = sorted({s["salience"] for s in result["summary"]})
    table = Table(
        title=f"mean canary exposure, bits (|R| = {result['space_size']:,}, max {result['max_exposure']:.1f})"
    )
    table.add_column("model")
    table.add_column("repeats", justify="right")
    for g in groups:
        table.add_column(g, justify="right")
    cells: dict[tuple[str, int], dict[str, str]] = {}
    for s in result["summary"]:
        cells.setdefault((s["model"], s["repeats"]), {})[s["salience"]] = f"{s['mean_exposure']:.2f} (n={s['n']})"
    for (model, rep), row in sorted(cells.items()):
        table.add_row(model, str(rep), *(row.get(g, "-") for g in groups))
    Console().print(table)
    print(f"wrote {args.out}/exposure.json and {args.out}/exposure.png")
    return 0

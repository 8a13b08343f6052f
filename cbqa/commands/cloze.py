"""`cbqa cloze`: LAMA-style cloze probes (Petroni et al. 2019) for any T5: what a model knows before any QA training.

Each fact of the LAMA files becomes a T5 input with `<extra_id_0>` in place of the object: its relation's template
with the subject filled in ("Alan Turing was born in <extra_id_0>."), or its first evidence sentence (--source
evidence). Rank mode scores every object of the relation (LAMA's per-relation candidates) by the log-likelihood of
`<extra_id_0> CANDIDATE <extra_id_1>` and reports P@1, P@10 and MRR; generate mode takes the span the model writes
(greedy, or --beams N) and reports exact match.

    cbqa cloze --model t5-small runs/demo/pretrain/ssm --lama P19.jsonl P20.jsonl --relations relations.jsonl \\
        --out runs/cloze
    cbqa cloze --model runs/demo/models/ssm --lama runs/demo/world/lama/*.jsonl --out runs/cloze-toy

Reads LAMA's T-REx and Google-RE files as released, and the toy world's (`cbqa world` writes OUT/lama/). A
relations.jsonl among the --lama files is taken as --relations. Writes OUT/cloze.json (per model: overall, per
relation, per split), OUT/facts.jsonl (per fact: input, gold, each model's top k with scores) and OUT/cloze.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from rich.console import Console

    from cbqa.core.errors import CbqaError
    from cbqa.memorisation.cloze import MODES, SOURCES
    from cbqa.memorisation.run_cloze import (
        ClozeConfig,
        cloze_table,
        load_cloze_set,
        model_names,
        run_cloze,
        write_cloze,
    )

    ap = argparse.ArgumentParser(
        prog="cbqa cloze", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", nargs="+", required=True, help="training run dirs, HF model dirs or hub names")
    ap.add_argument("--lama", nargs="+", required=True, help="LAMA JSONL files (T-REx or Google-RE layout)")
    ap.add_argument("--relations", help="LAMA's relations.jsonl (templates); Google-RE's three are built in")
    ap.add_argument("--source", default="template", choices=SOURCES, help="inputs from templates or evidence sentences")
    ap.add_argument("--mode", default="rank", choices=MODES, help="rank the relation's objects, or generate a span")
    ap.add_argument("--k", type=int, default=10, help="top candidates kept per fact in facts.jsonl (default 10)")
    ap.add_argument("--beams", type=int, default=1, help="generate mode: beams (default 1, greedy)")
    ap.add_argument(
        "--rank-by",
        default="sum",
        choices=("sum", "mean"),
        help="the score the table and the top k use: summed or length-normalised log-likelihood (both are in "
        "cloze.json; default sum)",
    )
    ap.add_argument("--only", nargs="+", metavar="RELATION", help="probe only these relations")
    ap.add_argument("--batch-size", type=int, help="rank mode: (input, candidate) pairs per forward pass")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", required=True, type=Path, help="directory for cloze.json, facts.jsonl and cloze.png")
    args = ap.parse_args(argv)

    relations = args.relations
    lama = []
    for p in args.lama:  # a shell glob over a LAMA directory also matches its relations.jsonl
        if Path(p).name == "relations.jsonl" and (relations is None or Path(p) == Path(relations)):
            relations = p
        else:
            lama.append(p)
    cfg = ClozeConfig(args.mode, args.k, args.beams, args.rank_by, args.batch_size, args.device)
    cfg.check()
    if args.out.exists() and not args.out.is_dir():
        raise CbqaError(f"{args.out}: exists and is not a directory")
    cset = load_cloze_set(lama, relations, args.source, args.only)  # every file checked before any model loads
    console = Console()
    skipped = cset.skipped
    if skipped.no_evidence:
        console.print(f"[yellow]{skipped.no_evidence} fact(s) without a sentence holding one [MASK]: skipped[/yellow]")
    t0 = time.perf_counter()
    result = run_cloze(model_names(args.model), cset, cfg)  # named `models/ssm`, `t5-small`; cloze.json has paths
    wall = time.perf_counter() - t0
    paths = write_cloze(args.out, result)
    console.print(cloze_table(result["results"]))
    n = len(cset.items) * len(args.model)
    console.print(f"{len(cset.items)} facts x {len(args.model)} model(s) in {wall:.1f} s ({n / wall:.1f} facts/s)")
    for name, path in paths.items():
        console.print(f"  {name:<8} {path}")
    return 0

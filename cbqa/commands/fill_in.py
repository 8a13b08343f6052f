"""`cbqa fill-in`: how much of a corpus a model stored — exact match of the masked span on SSM examples.

One SSM example per (document, candidate span) of a spans store, a sample of `--n` per group, filled greedily by
each model. With `--qa` (a QA-train file whose rows have `subject`, as the toy world's do), documents are split by
whether their title is a subject QA-train asks about: the "held-out" group is knowledge only pretraining can have
put in. Models trained with span corruption fill a sentinel with a ~3-word span rather than an entity, so this
probe measures SSM-style storage, not theirs.

    cbqa fill-in --model runs/demo/pretrain/ssm runs/demo/models/none --spans runs/demo/spans \\
        --qa runs/demo/world/train.jsonl [--json out.json]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cbqa.core.errors import CbqaError

# The items and the score live in the library (cbqa.memorisation.fill_in), shared with the training callback that
# logs fill-in EM during training (cbqa.memorisation.curves.KnowledgeCurve).
from cbqa.memorisation.fill_in import DEFAULT_POLICY, exact_match_percent, fill_in_items, qa_subjects


def fill(model: str, items: Sequence[tuple[str, str]], device: str) -> list[str]:
    from cbqa.model.inference import Answerer

    # No prefix: masked tasks train without one. Sentinels are special tokens, so the decoded text is the span.
    answerer = Answerer(model, device=device, prefix="")
    return [c[0].text if c else "" for c in answerer.answer([x for x, _ in items], num_beams=1, max_new_tokens=24)]


def main(argv: list[str]) -> int:
    from cbqa.core.formats.jsonl import write_json
    from ner_masking.policies import parse_option
    from ner_masking.store import load_span_store

    ap = argparse.ArgumentParser(
        prog="cbqa fill-in", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", nargs="+", required=True, help="training run dirs, HF model dirs or hub names")
    ap.add_argument("--spans", required=True, help="spans store written by `cbqa ner`")
    ap.add_argument("--qa", help="QA-train file: split documents by whether their title is a QA-train subject")
    ap.add_argument(
        "--policy",
        default=DEFAULT_POLICY,
        help=f"an SSM policy or preset (default {DEFAULT_POLICY}, the demo's recipe)",
    )
    ap.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="policy option, overriding the preset's (e.g. context=passage)",
    )
    ap.add_argument("--n", type=int, default=300, help="examples per group (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write {model: {group: EM}} here")
    args = ap.parse_args(argv)
    if args.n < 1:
        raise CbqaError(f"--n must be >= 1, got {args.n}")

    options = dict(parse_option(o) for o in args.option)
    docs = list(load_span_store(args.spans).docs())
    groups = {"all": docs}
    if args.qa:
        subjects = qa_subjects(args.qa)
        groups = {
            "QA-train subjects": [d for d in docs if d.title in subjects],
            "held-out": [d for d in docs if d.title not in subjects],
        }
    items = {g: fill_in_items(ds, args.n, args.seed, args.policy, options) for g, ds in groups.items()}
    if not any(items.values()):
        raise CbqaError(f"{args.spans}: no span to mask with policy {args.policy} {options or ''}")

    from rich.console import Console
    from rich.table import Table

    table = Table(title="fill-in exact match of the masked span (%)")
    table.add_column("model")
    for g, v in items.items():
        table.add_column(f"{g} (n={len(v)})", justify="right")
    results: dict[str, dict[str, float | None]] = {}
    for model in args.model:
        results[model] = {
            g: round(exact_match_percent(fill(model, v, args.device), v), 2) if v else None for g, v in items.items()
        }
        table.add_row(model, *("-" if x is None else f"{x:.1f}" for x in results[model].values()))
    Console().print(table)
    if args.json:
        write_json(
            args.json,
            {"policy": args.policy, "options": options, "n": {g: len(v) for g, v in items.items()}, "results": results},
        )
        print(f"wrote {args.json}")
    return 0

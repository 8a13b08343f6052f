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
import random
from collections.abc import Sequence
from typing import Any

from cbqa.errors import CbqaError

DEFAULT_POLICY = "ssm_title_sentence"  # the demo's SSM recipe (ner_masking.policies.PRESETS)


def fill_in_items(
    docs: Sequence[Any], n: int, seed: int, policy_name: str = DEFAULT_POLICY, options: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(input, span) for every candidate span of `docs` under an SSM policy (or preset) with `options`; `n` of them,
    sampled."""
    from ner_masking.masked import unmask
    from ner_masking.policies import make_policy
    from ner_masking.spans import candidate_spans
    from ner_masking.ssm import SSM
    from ner_masking.store import SpanDoc

    policy = make_policy(policy_name, **(options or {}))
    if not isinstance(policy, SSM):
        raise CbqaError(f"fill-in needs an SSM policy (one masked span per example), not {policy_name!r}")
    items = []
    for doc in docs:
        for span in candidate_spans(doc, policy.labels, policy.exclude_labels):
            # A one-span copy of the document makes the policy mask exactly this span (title filter still applies).
            ex = policy(SpanDoc(doc.id, doc.text, doc.sentences, [span], doc.title), random.Random(seed))
            if ex is not None:
                items.append((ex.input_text, unmask(ex.target_text)))
    random.Random(seed).shuffle(items)
    return items[:n]


def exact_match_percent(predictions: Sequence[str], items: Sequence[tuple[str, str]]) -> float:
    from cbqa.metrics import max_em

    if not items:
        return 0.0
    return 100.0 * sum(max_em(p, [gold]) for p, (_, gold) in zip(predictions, items, strict=True)) / len(items)


def fill(model: str, items: Sequence[tuple[str, str]], device: str) -> list[str]:
    from cbqa.inference import Answerer

    # No prefix: masked tasks train without one. Sentinels are special tokens, so the decoded text is the span.
    answerer = Answerer(model, device=device, prefix="")
    return [c[0].text if c else "" for c in answerer.answer([x for x, _ in items], num_beams=1, max_new_tokens=24)]


def _qa_subjects(path: str) -> set[str]:
    from cbqa.data.jsonl import read_jsonl

    subjects = set()
    for line_no, row in read_jsonl(path):
        if not row.get("subject"):
            raise CbqaError(f"{path}:{line_no}: row has no 'subject' (needed to split documents by QA-train subject)")
        subjects.add(row["subject"])
    return subjects


def main(argv: list[str]) -> int:
    from ner_masking.policies import parse_option
    from ner_masking.store import load_span_store

    from cbqa.data.jsonl import write_json

    ap = argparse.ArgumentParser(prog="cbqa fill-in", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", required=True, help="training run dirs, HF model dirs or hub names")
    ap.add_argument("--spans", required=True, help="spans store written by `cbqa ner`")
    ap.add_argument("--qa", help="QA-train file: split documents by whether their title is a QA-train subject")
    ap.add_argument("--policy", default=DEFAULT_POLICY,
                    help=f"an SSM policy or preset (default {DEFAULT_POLICY}, the demo's recipe)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="policy option, overriding the preset's (e.g. context=passage)")  # fmt: skip
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
        subjects = _qa_subjects(args.qa)
        groups = {"QA-train subjects": [d for d in docs if d.title in subjects],
                  "held-out": [d for d in docs if d.title not in subjects]}  # fmt: skip
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
        results[model] = {g: round(exact_match_percent(fill(model, v, args.device), v), 2) if v else None
                          for g, v in items.items()}  # fmt: skip
        table.add_row(model, *("-" if x is None else f"{x:.1f}" for x in results[model].values()))
    Console().print(table)
    if args.json:
        write_json(args.json, {"policy": args.policy, "options": options, "n": {g: len(v) for g, v in items.items()}, "results": results})
        print(f"wrote {args.json}")
    return 0

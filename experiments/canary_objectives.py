"""Canary exposure by pretraining objective, on a small synthetic corpus (README, "Memorisation").

A 64-document corpus of short encyclopedia-style paragraphs (invented stations, towns and keepers) gets digit canaries
("The locker code of Laura Emerson is 4 8 2 9 1.", |R| = 10^5) inserted 1, 4 and 16 times (`--count` each) plus 20
never inserted. The real spaCy pipeline annotates it twice: with the default labels (names, dates: a digit secret is
not salient) and with every label (CARDINAL kept). A 94k-parameter T5 is then trained with the same code as
`cbqa pretrain` under each objective, and `cbqa exposure`'s code scores every canary:

- `untrained`: the freshly initialised model (what no storage gives);
- `span_corruption`: T5's objective, 15% noise in spans of mean length 3, over the paragraphs;
- `ssm`: SSM over the default-label store (the demo's labels): the digit secret is never masked;
- `ssm_all_labels`: SSM over the every-label store, where spaCy marks the digits CARDINAL (when it does).

    python experiments/canary_objectives.py --out runs/canary_objectives --seeds 0 1     # ~5 min on 2 shared cores

Runs go to OUT/seed-S/<objective>/; a finished run is not retrained. Prints mean exposure per objective and repeat
count over the seeds, and writes OUT/table.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from cbqa.core.formats import Document, write_corpus
from cbqa.memorisation.canaries import CORPUS, digits_format, write_canaried_corpus
from cbqa.memorisation.run_exposure import ExposureConfig, run_exposure
from cbqa.model.loading import T5Arch, build_from_config
from cbqa.model.tokenizer import train_tokenizer
from cbqa.training.cli import run_training
from ner_masking.annotate import AnnotateConfig, annotate_corpus
from ner_masking.labels import ALL_LABELS, DEFAULT_LABELS

TOWNS = "Ashford Barley Kingston Oakley Penfield Salford Fairfield Glendale Marbury Redworth Hartford Lindfield".split()
FIRST = "Anna Brian Carol Derek Helen Ivan Joyce Keith Linda Martin Nora Oscar".split()
LAST = "Hale Irwin Joyce Knox Lowell Marsh Nolan Ogden Pryce Quill Rowe Stone".split()
ARCH = [
    "--model.arch.d_model",
    "64",
    "--model.arch.d_ff",
    "128",
    "--model.arch.num_heads",
    "2",
    "--model.arch.d_kv",
    "32",
    "--model.arch.num_layers",
    "1",
    "--model.arch.num_decoder_layers",
    "1",
]
OBJECTIVES = {
    "span_corruption": ("all", "span_corruption"),
    "ssm": ("default", "ssm"),
    "ssm_all_labels": ("all", "ssm"),
}


def corpus(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        town, keeper = rng.choice(TOWNS), f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        year = rng.randrange(1850, 1990)
        docs.append(
            Document(
                f"d{i}",
                f"Station {i} lies in {town}. It opened in {year}. Its keeper is {keeper}, who "
                f"lives near the {rng.choice(['harbour', 'market', 'river', 'old mill'])}.",
                f"Station {i}",
            )
        )
    write_corpus(path, docs)


def train(run_dir: Path, tok: Path, spans: Path, policy: str, steps: int, seed: int) -> None:
    if (run_dir / "hf" / "config.json").exists() and (run_dir / "summary.json").exists():
        return
    task = [{"name": policy, "kind": "masked", "spans": str(spans), "policy": policy}]
    code = run_training(
        [
            "--model.tokenizer",
            str(tok),
            "--model.lr",
            "1e-2",
            *ARCH,
            "--data.tasks",
            json.dumps(task),
            "--data.batch_size",
            "32",
            "--data.seed",
            str(seed),
            "--seed_everything",
            str(seed),
            "--trainer.max_steps",
            str(steps),
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_model_summary",
            "false",
            "--run_dir",
            str(run_dir),
        ],
        "experiment",
        str(run_dir),
    )
    if code != 0:
        raise SystemExit(f"training {run_dir} failed ({code})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--docs", type=int, default=64)
    ap.add_argument("--count", type=int, default=5, help="canaries per repeat count")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--samples", type=int, default=500, help="sampled candidates per canary")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (a 94k-parameter model gains nothing from more)"
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows: list[dict] = []
    t0 = time.perf_counter()
    for seed in args.seeds:
        d = out / f"seed-{seed}"
        corpus(d / "base.jsonl", args.docs, seed)
        can = d / "canaries"
        if not (can / "canaries.json").exists():
            write_canaried_corpus(d / "base.jsonl", can, digits_format(5), [1, 4, 16], args.count, 20, seed)
        stores = {}
        for name, labels in (("default", DEFAULT_LABELS), ("all", ALL_LABELS)):
            stores[name] = annotate_corpus(
                can / CORPUS, d / f"spans-{name}", AnnotateConfig(labels=labels, progress=False)
            )
        texts = [json.loads(line)["text"] for line in (can / CORPUS).read_text().splitlines()]
        tok = d / "tok"
        if not (tok / "spiece.model").exists():
            train_tokenizer(texts, tok, vocab_size=300)
        models = {}
        untrained = d / "untrained"
        if not (untrained / "config.json").exists():
            import torch

            torch.manual_seed(seed)
            net, t = build_from_config(
                str(tok), T5Arch(d_model=64, d_ff=128, num_heads=2, d_kv=32, num_layers=1, num_decoder_layers=1)
            )
            net.save_pretrained(untrained)
            t.save_pretrained(untrained)
        models["untrained"] = untrained
        for name, (store, policy) in OBJECTIVES.items():
            train(d / name, tok, stores[store], policy, args.steps, seed)
            models[name] = d / name
        for name, path in models.items():
            # salience by the demo's default labels: a digit secret is salient only where spaCy tags it DATE or a name
            res = run_exposure(
                [str(path)],
                str(can),
                str(stores["default"]),
                d / "exposure" / name,
                ExposureConfig(samples=args.samples, seed=seed),
                progress=False,
            )
            rows += [{**r, "objective": name, "seed": seed} for r in res["canary_exposures"]]
    # mean exposure per objective, salience group (by the default-label store) and repeat count, over the seeds
    table: dict[str, dict[str, dict[int, list[float]]]] = {}
    for name in ["untrained", *OBJECTIVES]:
        for group in ("salient", "not salient"):
            for rep in (0, 1, 4, 16):
                v = [
                    r["exposure"]
                    for r in rows
                    if r["objective"] == name and r["repeats"] == rep and (rep == 0 or r["salience"] == group)
                ]
                table.setdefault(name, {}).setdefault(group, {})[rep] = (
                    [round(float(np.mean(v)), 2), len(v)] if v else None
                )
    labels = {}
    for r in rows:
        if r["objective"] == "ssm" and r["repeats"] > 0:
            key = "+".join(r["labels"]) or "none"
            labels[key] = labels.get(key, 0) + 1
    wall = round(time.perf_counter() - t0, 1)
    (out / "table.json").write_text(
        json.dumps(
            {
                "mean_exposure_and_n": table,
                "labels_on_inserted_secrets": labels,
                "seeds": args.seeds,
                "steps": args.steps,
                "docs": args.docs,
                "count": args.count,
                "wall_seconds": wall,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"mean exposure (bits, |R| = 10^5, max 16.6) over seeds {args.seeds} (n canaries); repeats 0: never inserted")
    print(f"{'objective':<18}{'secret':<13}" + "".join(f"{r:>12}" for r in (0, 1, 4, 16)))
    for name, groups in table.items():
        for group, row in groups.items():
            cells = "".join(
                f"{'-':>12}" if row[r] is None else f"{row[r][0]:>7.2f} ({row[r][1]:>2})" for r in (0, 1, 4, 16)
            )
            print(f"{name:<18}{group:<13}{cells}")
    print(f"NER labels overlapping the inserted secrets (default labels, canaries x seeds): {labels}")
    print(f"wall {wall} s; wrote {out}/table.json")


if __name__ == "__main__":
    main()

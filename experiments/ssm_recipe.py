"""The ablation behind the demo's SSM recipe (docs/notes/2026-11-26-ssm-recipe.md), one named row at a time.

Runs on a finished demo run directory (its world, tokenizer and spans), trains each row's model(s) with the
same training code as `cbqa pretrain` (the demo's 1M-parameter T5, batch 64), and prints per row:
fill-in EM on held-out people's paragraphs (`cbqa fill-in`'s measure), and greedy test EM overall and per gold
overlap category. Models go to OUT/<row>/; a finished row is not retrained.

    python experiments/ssm_recipe.py --demo runs/demo --out runs/ssm_recipe            # every row, ~22 min on 2 cores
    python experiments/ssm_recipe.py --demo runs/demo --out runs/ssm_recipe --rows ssm_alone_linear qa_only
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.commands import predict
from cbqa.commands.fill_in import exact_match_percent, fill, fill_in_items
from cbqa.core.metrics import max_em
from cbqa.demo import VARIANTS, Study, StudyConfig
from cbqa.training.cli import run_training
from ner_masking.store import load_span_store

SSM = VARIANTS["ssm"]  # the rows use the demo's SSM recipe (the ssm_title_sentence preset)
SC_PARAGRAPH = {"policy": "span_corruption", "policy_options": {}}


@dataclass(frozen=True)
class Stage:
    objective: dict[str, Any] | None  # masked task spec, or None
    qa: bool  # closed-book QA in the mixture
    steps: int
    lr: float = 2e-3
    schedule: str = "linear"


ROWS: dict[str, list[Stage]] = {
    "ssm_mixed_constant_600": [Stage(SSM, True, 600, schedule="constant")],
    "ssm_mixed_constant_2000": [Stage(SSM, True, 2000, schedule="constant")],
    "ssm_alone_constant": [Stage(SSM, False, 1000, schedule="constant")],
    "ssm_alone_constant_lr5e-3": [Stage(SSM, False, 1000, lr=5e-3, schedule="constant")],
    "ssm_alone_linear": [Stage(SSM, False, 1000)],
    "ssm_mixed_linear": [Stage(SSM, True, 1000)],
    "ssm_then_qa": [Stage(SSM, False, 1000), Stage(None, True, 300, lr=1e-3)],
    "ssm_then_mixed": [Stage(SSM, False, 1000), Stage(SSM, True, 500, lr=1e-3)],
    "sc_paragraph_then_mixed": [Stage(SC_PARAGRAPH, False, 1000), Stage(SC_PARAGRAPH, True, 500, lr=1e-3)],
    "qa_only": [Stage(None, True, 1000)],
}


def train_row(demo: Study, out: Path, stages: list[Stage]) -> Path:
    """Train the row's stages in order, each starting from the previous; returns the last run dir."""
    world, start = (demo.out / "world"), None
    for i, st in enumerate(stages):
        run = out / f"stage{i}"
        tasks = (
            [{"name": "m", "kind": "masked", "spans": str(demo.out / "spans"), **st.objective}] if st.objective else []
        )
        tasks += [{"name": "qa", "kind": "qa", "file": str(world / "train.jsonl")}] if st.qa else []
        if not (run / "summary.json").exists():
            args = demo.train_args(run, tasks, st.steps, st.lr, start, None) + ["--model.schedule", st.schedule]
            if run_training(args, "cbqa pretrain", str(run)) != 0:
                raise SystemExit(f"training {run} failed")
        start = run
    return start


def test_em(model: Path, demo: Study, out: Path) -> dict[str, float]:
    pred = out / "test_predictions.jsonl"
    if not pred.exists():
        predict.main(
            [
                "--model",
                str(model),
                "--questions",
                str((demo.out / "world") / "test.jsonl"),
                "--out",
                str(pred),
                "--num-beams",
                "1",
            ]
        )
    gold = {
        r["id"]: r["category"]
        for r in map(json.loads, ((demo.out / "world") / "overlap_gold.jsonl").read_text().splitlines())
    }
    by: dict[str, list[float]] = {}
    for row in map(json.loads, pred.read_text().splitlines()):
        em = max_em(row["prediction"], row["answers"])
        for key in ("total", gold[row["id"]]):
            by.setdefault(key, []).append(em)
    return {k: 100.0 * sum(v) / len(v) for k, v in by.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, default=Path("runs/demo"), help="a finished `cbqa demo` run directory")
    ap.add_argument("--out", type=Path, default=Path("runs/ssm_recipe"))
    ap.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    args = ap.parse_args()
    demo = Study(StudyConfig(out=str(args.demo)))
    subjects = {json.loads(line)["subject"] for line in ((demo.out / "world") / "train.jsonl").read_text().splitlines()}
    held_out = [d for d in load_span_store(demo.out / "spans").docs() if d.title not in subjects]
    items = fill_in_items(held_out, 300, 0)  # the same preset, fill-in's default
    table = []
    for name in args.rows:
        out = args.out / name
        model = train_row(demo, out, ROWS[name])
        fill_in = exact_match_percent(fill(str(model), items, "auto"), items)
        em = test_em(model, demo, out) if ROWS[name][-1].qa else {}
        table.append((name, fill_in, em))
        (out / "result.json").write_text(json.dumps({"fill_in_held_out": fill_in, "test_em": em}, indent=1))
    print(f"\n{'row':<28}{'fill-in held-out':>17}{'total':>8}{'ans_overlap_only':>18}{'no_overlap':>12}")
    for name, fill_in, em in table:
        cells = [f"{em[k]:.1f}" if k in em else "-" for k in ("total", "answer_overlap_only", "no_overlap")]
        print(f"{name:<28}{fill_in:>16.1f}%{cells[0]:>8}{cells[1]:>18}{cells[2]:>12}")


if __name__ == "__main__":
    main()

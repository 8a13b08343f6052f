"""The demo's cloze stage: what each variant knows as a fill-in-the-blank model, before and after QA fine-tuning.

Rank-mode cloze probes (`cbqa cloze`, LAMA-style) of the toy world's facts, from templates worded as no corpus
sentence is (`cbqa.world.lama`): span corruption and SSM after their pretraining (`OUT/pretrain/<variant>`), and every
variant after fine-tuning (`OUT/models/<variant>`), split into the subjects QA-train asks about and the held-out ones
(whose facts only pretraining can have put in a model). Writes `OUT/cloze/` (cloze.json, facts.jsonl, cloze.png: what
the app's Knowledge page reads) and the summary `OUT/report/cloze.{json,md}` (P@1 per variant x stage x split).

Birth dates are left out: each person has their own, so they are 100 candidates for 100 facts, the costliest
relation by far (alone about twice the cost of all the others together); `cbqa cloze` over `OUT/world/lama/*.jsonl` probes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbqa.core.formats.jsonl import write_json
from cbqa.core.io import atomic_writer
from cbqa.demo.config import VARIANTS
from cbqa.demo.stages import Stages, console

RELATIONS = (
    "birthplace",
    "residence",
    "employer",
    "alma_mater",
    "occupation",
    "founder",
    "founding_year",
    "headquarters",
)
STAGES = (("pretrain", "after pretraining"), ("models", "after fine-tuning"))
SPLITS = (("train", "QA-train subjects"), ("held_out", "held-out subjects"))


def demo_models(out: Path, variants: Sequence[str]) -> dict[str, Path]:
    """`pretrain/<variant>` for the masked variants, then `models/<variant>` for all: name -> exported HF model."""
    models = {f"pretrain/{v}": out / "pretrain" / v / "hf" for v in variants if VARIANTS[v] is not None}
    models |= {f"models/{v}": out / "models" / v / "hf" for v in variants}
    return models


def cloze_stage(stages: Stages, out: Path, world: Path, variants: Sequence[str]) -> Path:
    """Run (or skip, when done with the same models and files) the demo's cloze stage; returns the report's path."""
    lama = world / "lama"
    files = [lama / f"{r}.jsonl" for r in RELATIONS]
    models = demo_models(out, variants)
    report = out / "report" / "cloze.json"
    args = [
        "cloze",
        "--lama",
        *map(str, files),
        "--relations",
        str(lama / "relations.jsonl"),
        "--mode",
        "rank",
        "--model",
        *map(str, models.values()),
    ]
    outputs = [out / "cloze", report, report.with_suffix(".md")]
    stages.run("cloze", report, lambda: run(out, files, lama / "relations.jsonl", models, report), args, outputs)
    return report


def run(out: Path, files: list[Path], relations: Path, models: dict[str, Path], report: Path) -> int:
    import torch

    from cbqa.memorisation.run_cloze import ClozeConfig, load_cloze_set, run_cloze, write_cloze

    cset = load_cloze_set(files, relations, "template")
    # One torch thread: the 1M-parameter models' small matrices gain nothing from a second, and on 2 cores shared
    # with other work two threads stalled on each other (measured at load ~7: 111 s wall against 32 s with one).
    # The scores then do not depend on the machine's core count either.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_cloze({n: str(p) for n, p in models.items()}, cset, ClozeConfig(mode="rank", k=5, device="cpu"))
    finally:
        torch.set_num_threads(threads)
    # paths inside the run directory relative to it, as in its manifest: the run can be moved or copied
    results = result["results"]
    results["lama"] = [_inside(p, out) for p in results["lama"]]
    results["relations_file"] = _inside(results["relations_file"], out)
    for m in results["models"].values():
        m["path"] = _inside(m["path"], out)
    write_cloze(out / "cloze", result)
    summary = summarise(result["results"])
    write_json(report, summary)
    with atomic_writer(report.with_suffix(".md")) as f:
        f.write(markdown(summary))
    console.print(summary_table(summary))
    return 0


def _inside(path: str, out: Path) -> str:
    p = Path(path)
    return str(p.relative_to(out)) if p.is_relative_to(out) else path


def summary_table(summary: dict[str, Any]):
    from rich.table import Table

    t = Table(title="cloze P@1 (%), rank mode, template inputs")
    t.add_column("variant")
    for _, stage in STAGES:
        for _, split in SPLITS:
            t.add_column(f"{stage}\n{split}", justify="right")
    for row in summary["variants"]:
        cells = [(row.get(stage) or {}).get(split) for stage, _ in STAGES for split, _ in SPLITS]
        t.add_row(row["variant"], *(f"{c['p@1']:.1f}" if c and c["p@1"] is not None else "–" for c in cells))
    return t


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """P@1 (%) and n per variant, stage (pretrain / models) and subject split."""
    rows = []
    names = sorted(results["models"], key=lambda n: not n.startswith("models/"))  # fine-tuned order first
    variants = dict.fromkeys(name.split("/", 1)[1] for name in names)
    for variant in variants:
        row: dict[str, Any] = {"variant": variant}
        for stage, _ in STAGES:
            m = results["models"].get(f"{stage}/{variant}")
            row[stage] = (
                None
                if m is None
                else {
                    split: {"p@1": m["splits"][split]["p@1"], "n": m["splits"][split]["n"]}
                    for split, _ in SPLITS
                    if split in m["splits"]
                }
                | {"all": {"p@1": m["overall"]["p@1"], "n": m["overall"]["n"]}}
            )
        rows.append(row)
    chance = {
        r: round(100.0 / v["candidates"], 1) for r, v in results["relations"].items() if v["candidates"]
    }  # P@1 of a uniform guess
    return {
        "metric": "P@1 (%)",
        "mode": results["mode"],
        "source": results["source"],
        "relations": list(results["relations"]),
        "chance": chance,
        "variants": rows,
    }


def markdown(summary: dict[str, Any]) -> str:
    head = " | ".join(f"{s} {sp}" for _, s in STAGES for _, sp in SPLITS)
    lines = [
        f"Cloze P@1 (%), rank mode over each relation's objects, template inputs; relations: "
        f"{', '.join(summary['relations'])}.",
        "",
        f"| variant | {head} |",
        "|---|" + "---:|" * (len(STAGES) * len(SPLITS)),
    ]
    for row in summary["variants"]:
        cells = []
        for stage, _ in STAGES:
            for split, _ in SPLITS:
                cell = (row.get(stage) or {}).get(split)
                cells.append(f"{cell['p@1']:.1f} (n={cell['n']})" if cell and cell["p@1"] is not None else "–")
        lines.append(f"| {row['variant']} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"

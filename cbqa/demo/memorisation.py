"""`cbqa demo --memorisation`: the demo's variants trained on a canaried toy world, and what each one stored.

Stages (recorded and resumable like the plain demo's, `OUT/stages.json`):
world -> canaries (secret-bearing sentences inserted 1, 4 and 16 times, plus never-inserted controls) -> tokenizer
and spans of the canaried corpus -> per seed, per variant: the plain demo's recipe (pretrain on the objective, then
QA mixed with it; `none`: QA alone) -> `cbqa exposure` over every model -> `cbqa extract` per model -> report.

The report (`OUT/report/memorisation.{json,md}`) puts, per variant and averaged over the seeds' models, the mean
exposure of never-inserted / 1x / 4x / 16x canaries (all, and split by whether NER marks the secret salient: SSM
only ever masks those), extraction precision@100 under both rankings, and closed-book dev EM side by side.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from cbqa.core.formats.jsonl import write_json
from cbqa.core.io import atomic_writer
from cbqa.demo.config import StudyConfig
from cbqa.demo.stages import Stages, console, run_training_stage, variant_recipe, write_timings

REPEATS = (1, 4, 16)


class MemorisationDemo:
    def __init__(self, cfg: StudyConfig, seeds: tuple[int, ...], canaries: int = 10, samples: int = 400) -> None:
        self.cfg, self.seeds, self.count, self.samples = cfg, seeds, canaries, samples
        self.out = Path(cfg.out)
        self.stages = Stages(self.out)

    def run(self) -> dict[str, Any]:
        from cbqa.commands import canaries, exposure, extract, tokenizer, world
        from cbqa.commands import ner as ner_cmd

        c, out, t0 = self.cfg, self.out, time.perf_counter()
        w, can, tok, spans = out / "world", out / "canaries", out / "tokenizer", out / "spans"
        self.stages.command(
            "world",
            w / "world.json",
            world.main,
            ["--out", str(w), "--seed", str(c.seed), "--people", str(c.people), "--orgs", str(max(2, c.people // 5))],
            [w],
        )
        self.stages.command(
            "canaries",
            can / "canaries.json",
            canaries.main,
            [
                "--corpus",
                str(w / "corpus.jsonl"),
                "--out",
                str(can),
                "--count",
                str(self.count),
                "--repeats",
                *map(str, REPEATS),
                "--seed",
                str(c.seed),
            ],
            [can],
        )
        corpus = can / "corpus.jsonl"
        self.stages.command(
            "tokenizer",
            tok / "tokenizer.json",
            tokenizer.main,
            [
                "--corpus",
                str(corpus),
                "--qa",
                str(w / "train.jsonl"),
                "--out",
                str(tok),
                "--vocab-size",
                str(c.vocab_size),
            ],
            [tok],
        )
        self.stages.command(
            "ner", spans / "manifest.json", ner_cmd.main, ["--corpus", str(corpus), "--out", str(spans)], [spans]
        )
        models = {f"{v}-s{seed}": self.train_variant(v, seed) for seed in self.seeds for v in c.variants}
        ex = out / "exposure"
        self.stages.command(
            "exposure",
            ex / "exposure.json",
            exposure.main,
            [
                "--model",
                *(str(m) for m in models.values()),
                "--canaries",
                str(can),
                "--spans",
                str(spans),
                "--out",
                str(ex),
            ],
            [ex],
        )
        for name, run in models.items():
            path = out / "extraction" / f"extract-{name}.json"  # (the app's Memorisation page lists extract*.json)
            self.stages.command(
                f"extract {name}",
                path,
                extract.main,
                [
                    "--model",
                    str(run),
                    "--corpus",
                    str(corpus),
                    "--spans",
                    str(spans),
                    "--samples",
                    str(self.samples),
                    "--top-k",
                    "10",
                    "100",
                    "--json",
                    str(path),
                ],
            )
        report = self.report(models)
        wall = time.perf_counter() - t0
        write_timings(out, self.stages, wall)
        return {"report": report, "wall_s": wall}

    def train_variant(self, variant: str, seed: int) -> Path:
        """The plain demo's recipe for one variant and seed, on the canaried corpus's spans."""
        out, name = self.out, f"{variant}-s{seed}"
        qa = {"name": "qa", "kind": "qa", "file": str(out / "world" / "train.jsonl")}
        run = out / "models" / name
        for stage, run_dir, argv in variant_recipe(
            replace(self.cfg, seed=seed),
            out,
            variant,
            qa,
            out / "spans",
            out / "pretrain" / name,
            run,
            out / "world" / "dev.jsonl",
        ):
            self.stages.run(
                f"{stage} {variant} seed {seed}",
                run_dir / "summary.json",
                lambda argv=argv, run_dir=run_dir: run_training_stage(argv, "cbqa pretrain", run_dir),
                ["cbqa pretrain", *argv],
                [run_dir],
            )
        return run

    def report(self, models: dict[str, Path]) -> Path:
        exposure = json.loads((self.out / "exposure" / "exposure.json").read_text(encoding="utf-8"))
        rows = []
        for variant in self.cfg.variants:
            names = [n for n in models if n.rsplit("-s", 1)[0] == variant]
            rows.append(variant_row(variant, names, models, exposure, self.out / "extraction"))
        result = {
            "seeds": list(self.seeds),
            "space_size": exposure["space_size"],
            "method": exposure["method"],
            "canaries_per_repeat": self.count,
            "extraction_samples": self.samples,
            "variants": rows,
        }
        rd = self.out / "report"
        write_json(rd / "memorisation.json", result)
        with atomic_writer(rd / "memorisation.md") as f:
            f.write(markdown(result))
        console.print(markdown(result))
        return rd / "memorisation.json"


def variant_row(
    variant: str, names: list[str], models: dict[str, Path], exposure: dict[str, Any], extraction: Path
) -> dict[str, Any]:
    """Means over a variant's seeds: exposure per repeats x salience, extraction precision@k, dev EM."""
    runs = {str(models[n]) for n in names}
    cells: dict[str, list[float]] = {}
    for r in exposure["canary_exposures"]:
        if r["model"] in runs:
            for sal in (r["salience"], "all"):
                cells.setdefault(f"{r['repeats']}|{sal}", []).append(r["exposure"])
    mean = {k: {"mean": round(sum(v) / len(v), 2), "n": len(v)} for k, v in sorted(cells.items())}
    precision: dict[str, list[float]] = {}
    for n in names:
        rep = json.loads((extraction / f"extract-{n}.json").read_text(encoding="utf-8"))
        for ranking, body in rep["rankings"].items():
            for k, cell in body["precision_at_k"].items():
                if cell["precision"] is not None:  # (None: no sample long enough to rank)
                    precision.setdefault(f"{ranking}@{k}", []).append(cell["precision"])
    dev = [json.loads((models[n] / "summary.json").read_text(encoding="utf-8")).get("best_val_em") for n in names]
    return {
        "variant": variant,
        "models": names,
        "exposure": mean,
        "precision": {k: round(100 * sum(v) / len(v), 1) for k, v in precision.items()},
        "dev_em": round(sum(d for d in dev if d is not None) / max(1, sum(d is not None for d in dev)), 1),
    }


def markdown(result: dict[str, Any]) -> str:
    def cell(row: dict[str, Any], repeats: int, sal: str) -> str:
        c = row["exposure"].get(f"{repeats}|{sal}")
        return f"{c['mean']:.2f} ({c['n']})" if c else "–"

    head = (
        "| variant | never inserted | "
        + " | ".join(f"{r}x all / salient / not" for r in REPEATS)
        + " | extraction P@100, perplexity / zlib (%) | dev EM |"
    )
    lines = [
        f"Mean exposure in bits (n canary-model pairs; |R| = {result['space_size']:,}, {result['method']}), "
        f"seeds {result['seeds']}:",
        "",
        head,
        "|---|---:|" + "---:|" * len(REPEATS) + "---:|---:|",
    ]
    for row in result["variants"]:
        reps = " | ".join(
            f"{cell(row, r, 'all')} / {cell(row, r, 'salient')} / {cell(row, r, 'not salient')}" for r in REPEATS
        )
        p = row["precision"]
        lines.append(
            f"| {row['variant']} | {cell(row, 0, 'all')} | {reps} | {p.get('perplexity@100', '–')} / "
            f"{p.get('zlib@100', '–')} | {row['dev_em']} |"
        )
    return "\n".join(lines) + "\n"

"""The whole study on the embedded toy world, end to end, as a sequence of the same commands a user runs.

Stages (each skipped when its output exists and was made with the same arguments and inputs, as `OUT/stages.json`
records; rerun when any of them changed; an interrupted demo resumes where it stopped):
world -> tokenizer -> ner spans -> per variant: [pretrain (span corruption | SSM)] -> closed-book fine-tune
(QA + the objective) -> predict
-> retrieval baseline (index, retrieve, reading examples, FiD reader, extractive floor, counterfactual check)
-> overlap labels + nearest-neighbour baselines -> evaluate -> report.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cbqa.core.contracts import read_contract, write_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats.run_manifest import MANIFEST, RunManifest
from cbqa.demo.config import VARIANTS, DemoConfig
from cbqa.demo.retrieval import run_retrieval_stages
from cbqa.demo.stages import Stages, console, run_training_stage, train_args, variant_recipe, write_timings


class Demo:
    def __init__(self, cfg: DemoConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.world = self.out / "world"
        self.stages = Stages(self.out)

    def stage(self, name: str, done: Path | None, fn, args: list[str], outputs: list[Path] | None = None) -> None:
        self.stages.run(name, done, fn, args, outputs or [])

    def command(self, name: str, done: Path, main, argv: list[str], outputs: list[Path] | None = None) -> None:
        """A stage that runs one `cbqa` subcommand's `main(argv)`; the argv is what the stage records."""
        self.stage(name, done, lambda: main(argv), [name.split()[0], *argv], outputs)

    def training(self, name: str, run: Path, argv: list[str], prog: str) -> None:
        self.stage(name, run / "summary.json", lambda: run_training_stage(argv, prog, run), [prog, *argv], [run])

    def train_args(
        self,
        run_dir: Path,
        tasks: list[dict[str, Any]],
        steps: int,
        lr: float,
        model: Path | None,
        val_file: Path | None,
    ) -> list[str]:
        return train_args(self.cfg, self.out, run_dir, tasks, steps, lr, model, val_file)

    # -- stages --------------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from cbqa.commands import ner as ner_cmd
        from cbqa.commands import predict, tokenizer, world

        c, w = self.cfg, self.world
        t_start = time.perf_counter()
        self.forget_other_run()
        self.command(
            "world",
            w / "world.json",
            world.main,
            ["--out", str(w), "--seed", str(c.seed), "--people", str(c.people), "--orgs", str(max(2, c.people // 5))],
            [w],
        )
        tok = self.out / "tokenizer"
        self.command(
            "tokenizer",
            tok / "tokenizer.json",
            tokenizer.main,
            [
                "--corpus",
                str(w / "corpus.jsonl"),
                "--qa",
                str(w / "train.jsonl"),
                "--out",
                str(tok),
                "--vocab-size",
                str(c.vocab_size),
            ],
            [tok],
        )
        # The masked variants train on the spans store; the FiD reader's reading examples are made from it.
        needs_spans = any(VARIANTS[v] for v in c.variants) or (c.retrieval and c.reader == "fid")
        if needs_spans:
            spans = self.out / "spans"
            self.command(
                "ner",
                spans / "manifest.json",
                ner_cmd.main,
                ["--corpus", str(w / "corpus.jsonl"), "--out", str(spans)],
                [spans],
            )
        qa_task = {"name": "qa", "kind": "qa", "file": str(w / "train.jsonl")}
        models: dict[str, str] = {}
        runs: dict[str, str] = {}
        predictions: dict[str, str] = {}
        for v in c.variants:
            run = self.out / "models" / v
            for stage, run_dir, argv in variant_recipe(
                c, self.out, v, qa_task, self.out / "spans", self.out / "pretrain" / v, run, w / "dev.jsonl"
            ):
                self.training(f"{stage} {v}", run_dir, argv, "cbqa pretrain")
            models[v], runs[v] = str(run / "hf"), str(run)
            pred = self.out / "predictions" / f"closed_book_{v}.jsonl"
            self.command(
                f"predict {v}",
                pred,
                predict.main,
                [
                    "--model",
                    str(run),
                    "--questions",
                    str(w / "test.jsonl"),
                    "--out",
                    str(pred),
                    "--num-beams",
                    "4",
                    "--top-k",
                    "4",
                ],
            )
            predictions[f"closed_book_{v}"] = str(pred)

        index, reader = None, None
        if c.retrieval:
            index, reader, rpreds, rruns = self.retrieval(models)
            predictions.update(rpreds)
            runs.update(rruns)
        predictions.update(self.overlap_and_neighbours(self.out / "spans" if needs_spans else None))
        report = self.report(predictions)
        manifest = {
            "name": self.out.name,
            "train": str(w / "train.jsonl"),
            "dev": str(w / "dev.jsonl"),
            "test": str(w / "test.jsonl"),
            "corpus": str(w / "corpus.jsonl"),
            "spans": str(self.out / "spans") if needs_spans else None,
            "index": index,
            "overlap": str(self.out / "overlap" / "test_overlap.jsonl"),
            "gold_overlap": str(w / "overlap_gold.jsonl"),
            "models": models,
            "runs": runs,
            "predictions": predictions,
            "reader": reader,
            "report": str(report),
            "config": asdict(self.cfg),
        }
        write_contract(self.out / MANIFEST, RunManifest.model_validate(_relative(manifest, self.out)))
        wall = time.perf_counter() - t_start
        write_timings(self.out, self.stages, wall)
        return {"manifest": self.out / MANIFEST, "report": report, "wall_s": wall}

    def forget_other_run(self) -> None:
        """Remove a manifest.json that describes a run with other settings: from here on the directory holds a
        mix until this run finishes and writes its own, and the app must not present that mix as the old run."""
        path = self.out / MANIFEST
        if not path.exists():
            return
        try:
            old = read_contract(RunManifest, path).config
        except CbqaError:
            old = None
        mine = _comparable(asdict(self.cfg))
        if old is None or _comparable(old) != mine:
            if self.out.is_dir() and not path.is_file():
                raise CbqaError(f"{path}: is not a file")
            path.unlink()
            console.print(
                f"[yellow]• {path}: described a run with other settings; removed until this run finishes[/yellow]"
            )

    def retrieval(self, models: dict[str, str]) -> tuple[str | None, str | None, dict[str, str], dict[str, str]]:
        """Dense + BM25 index over the corpus, hybrid retrieval for every split, and an open-book T5 reader."""
        return run_retrieval_stages(self.cfg, self.out, self.stages, models)

    def overlap_and_neighbours(self, spans: Path | None) -> dict[str, str]:
        from cbqa.commands import nn_baseline, overlap
        from cbqa.overlap.labeller import DEFAULT_THRESHOLDS

        w, od = self.world, self.out / "overlap"
        # The corpus's sentences come from the spans store when there is one (the sentences SSM masks in).
        sentences = ["--spans", str(spans)] if spans is not None else []
        self.command(
            "overlap labels",
            od / "test_overlap.jsonl",
            overlap.main,
            [
                "--train",
                str(w / "train.jsonl"),
                "--test",
                str(w / "test.jsonl"),
                "--corpus",
                str(w / "corpus.jsonl"),
                *sentences,
                # the detector's defaults, spelled out so that the stage reruns if they change (docs/overlap.md)
                "--method",
                "dense",
                "--threshold",
                str(DEFAULT_THRESHOLDS["dense"]),
                "--require-shared-answer",
                "--gold-labels",
                str(w / "overlap_gold.jsonl"),
                "--comparison-json",
                str(od / "gold_comparison.json"),
                "--summary-json",
                str(od / "summary.json"),
                "--out",
                str(od / "test_overlap.jsonl"),
            ],
            [od],
        )
        out = {}
        for method in ("tfidf", "dense"):
            p = self.out / "predictions" / f"nearest_neighbour_{method}.jsonl"
            self.command(
                f"nearest-neighbour baseline ({method})",
                p,
                nn_baseline.main,
                [
                    "--train",
                    str(w / "train.jsonl"),
                    "--test",
                    str(w / "test.jsonl"),
                    "--method",
                    method,
                    "--out",
                    str(p),
                ],
            )
            out[f"nearest_neighbour_{method}"] = str(p)
        return out

    def report(self, predictions: dict[str, str]) -> Path:
        from cbqa.commands import evaluate

        rd = self.out / "report"
        preds = [f"{name}={path}" for name, path in predictions.items()]
        w = self.world
        # By the generator's gold categories (true by construction) ...
        console.rule("[bold]test EM/F1 by gold overlap category")
        evaluate.main(
            [
                "--predictions",
                *preds,
                "--gold",
                str(w / "test.jsonl"),
                "--overlap",
                str(w / "overlap_gold.jsonl"),
                "--json",
                str(rd / "results.json"),
                "--markdown",
                str(rd / "results.md"),
                "--plot",
                str(rd / "results.png"),
            ]
        )
        # ... and by the labels our detector computed from the data alone, as on a real dataset.
        console.rule("[bold]test EM/F1 by detected overlap category")
        evaluate.main(
            [
                "--predictions",
                *preds,
                "--gold",
                str(w / "test.jsonl"),
                "--overlap",
                str(self.out / "overlap" / "test_overlap.jsonl"),
                "--json",
                str(rd / "results_detected.json"),
                "--markdown",
                str(rd / "results_detected.md"),
                "--plot",
                str(rd / "results_detected.png"),
            ]
        )
        return rd / "results.json"


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A demo config as JSON, without where it was written (a moved run directory is the same run)."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k != "out"}))


def _relative(obj: Any, base: Path) -> Any:
    """Paths inside the run directory are stored relative to it, so the run can be moved or copied."""
    if isinstance(obj, dict):
        return {k: _relative(v, base) for k, v in obj.items()}
    if isinstance(obj, str) and obj.startswith(str(base) + "/"):
        return obj[len(str(base)) + 1 :]
    return obj

"""The whole study, end to end, as a sequence of the same commands a user runs: on the user's corpus and questions
(`cbqa study`), or on the generated toy world (`cbqa demo`).

Stages (each skipped when its output exists and was made with the same arguments and inputs, as `OUT/stages.json`
records; rerun when any of them changed; an interrupted study resumes where it stopped):
inputs (world | data) -> tokenizer (unless --model) -> ner spans -> in lanes, side by side: the stages that train
nothing (overlap labels, nearest-neighbour baselines, the retrieval arm's index, retrieved passages and extractive
floors) first, then per variant [pretrain (span corruption | SSM)] -> closed-book fine-tune (QA + the objective) ->
predict; the retrieval arm's reader (FiD, started from the SSM model) and its counterfactual check after the SSM
variant -> cloze probes of the pretrained and fine-tuned models (the toy world: cbqa.demo.cloze) -> evaluate ->
report (results.json, summary.json) -> manifest (the app's).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cbqa.core.contracts import read_contract, write_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats.jsonl import write_json
from cbqa.core.formats.run_manifest import MANIFEST, RunManifest
from cbqa.demo.config import VARIANTS, StudyConfig
from cbqa.demo.inputs import StudyInputs, split_own_data
from cbqa.demo.retrieval import retrieval_arm, retrieval_inputs
from cbqa.demo.stages import (
    Once,
    Stages,
    console,
    flags,
    run_stage,
    start_children_server,
    variant_recipe,
    write_timings,
)


class Study:
    def __init__(self, cfg: StudyConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.stages = Stages(self.out)

    def child(self, name: str, done: Path, argv: list[str], outputs: list[Path]) -> None:
        """A training stage: `cbqa ARGV` in a process of its own when lanes run side by side (`stages.in_child`),
        else in this one (on the same number of torch threads: the same result)."""
        self.stages.run(
            name, done, lambda: run_stage(argv, self.stages.log(name), self.cfg), [f"cbqa {argv[0]}", *argv], outputs
        )

    # -- stages --------------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        import torch

        torch.set_num_threads(self.cfg.threads)  # what this process computes (prediction, encoding) as its children
        c, t_start = self.cfg, time.perf_counter()
        cores = os.cpu_count() or 1
        if c.lanes > 1 and c.lanes * c.threads > cores:
            # OpenMP threads spin while they wait: stages that ask for more threads than there are cores do not share
            # them, they stall each other (seen: 2 lanes x 2 threads on 2 cores, several times slower than 1 lane)
            console.print(
                f"[yellow]warning:[/] {c.lanes} lanes x {c.threads} threads is more than this machine's {cores} cores: "
                f"the stages will slow each other down; use --lanes {max(1, cores // c.threads)} with --threads "
                f"{c.threads}"
            )
        # The training stages' server, started now so that its imports overlap the stages before the first training
        # stage; not for the rerun of a finished study with these settings, which has nothing left to train (should
        # an input have changed, the first training stage starts it).
        if not self.forget_other_run() and c.lanes > 1:
            start_children_server()
        inputs = self.inputs()
        if c.model is None:  # a T5 built from a config, with a tokenizer of the corpus
            self.tokenizer(inputs)
        # The masked variants train on the spans store, the reader's clozes come from it, and the overlap labels read
        # its sentences (else the corpus's, split by the same rule).
        needs_spans = any(VARIANTS[v] for v in c.variants) or (c.retrieval and c.reader == "fid" and c.reader_clozes)
        spans = self.ner(inputs) if needs_spans else None
        models = {v: self.out / "models" / v for v in c.variants}
        closed = {f"closed_book_{v}": self.out / "predictions" / f"closed_book_{v}.jsonl" for v in c.variants}
        arm: dict[str, Any] = {}
        # The stages that train nothing run in a lane of their own, beside the first training stages; the retrieval
        # arm's reader waits for them (`Once`: whichever lane asks first runs them).
        side = Once(lambda: self.side_stages(inputs, spans))
        chains = {v: (lambda v=v: self.variant(v, inputs, spans)) for v in c.variants}
        if c.retrieval:  # after the SSM variant (the reader starts from its model), else on its own
            start = "ssm" if "ssm" in c.variants else None

            def arm_chain() -> None:
                detected, _ = side()  # (the reader trains on the side stages' retrieved passages)
                labels = inputs.gold_overlap or detected
                arm.update(retrieval_arm(c, self.out, self.stages, inputs, models.get(start), labels))

            if start is None:
                chains["retrieval"] = arm_chain
            else:
                variant_chain = chains[start]
                chains[start] = lambda: (variant_chain(), arm_chain())
        self.stages.parallel([side, *longest_first(chains, c)], c.lanes)
        overlap, predictions = side()
        if c.corpus is None:  # the toy world speaks LAMA: what each model knows, after pretraining and fine-tuning
            from cbqa.demo.cloze import cloze_stage

            cloze_stage(self.stages, self.out, self.out / "world", c.variants)
        predictions = {**{k: str(v) for k, v in closed.items()}, **arm.get("predictions", {}), **predictions}
        report = self.report(predictions, inputs, overlap)
        manifest = {
            "name": self.out.name,
            "train": str(inputs.train),
            "dev": str(inputs.dev),
            "test": str(inputs.test),
            "corpus": str(inputs.corpus),
            "spans": str(spans) if spans else None,
            "index": arm.get("index"),
            "overlap": str(overlap),
            "gold_overlap": str(inputs.gold_overlap) if inputs.gold_overlap else None,
            "models": {v: str(m / "hf") for v, m in models.items()},
            "runs": {
                **{v: str(m) for v, m in models.items()},
                **({"reader": arm["reader"]} if "reader" in arm else {}),
            },
            "predictions": predictions,
            "reader": arm.get("reader"),
            "report": str(report),
            "config": asdict(c),
        }
        write_contract(self.out / MANIFEST, RunManifest.model_validate(_relative(manifest, self.out)))
        wall = time.perf_counter() - t_start
        write_timings(self.out, self.stages, wall)
        write_summary(self.out, c)
        return {"manifest": self.out / MANIFEST, "report": report, "wall_s": wall}

    def inputs(self) -> StudyInputs:
        """The generated world (demo) or the user's corpus and QA splits (OUT/data/)."""
        c, data = self.cfg, self.out / "data"
        if c.corpus is None:
            from cbqa.commands import world

            w = self.out / "world"
            argv = flags(out=w, seed=c.seed, people=c.people, orgs=max(2, c.people // 5))
            # (done when its last file is: a world written before it had LAMA files is rewritten)
            self.stages.command("world", w / "lama" / "relations.jsonl", world.main, argv, [w])
            return StudyInputs(
                w / "corpus.jsonl", w / "train.jsonl", w / "dev.jsonl", w / "test.jsonl", w / "overlap_gold.jsonl"
            )
        corpus = Path(c.corpus).resolve()
        if not corpus.exists():
            raise CbqaError(f"{c.corpus}: no such corpus")
        args = ["data", *[str(Path(q).resolve()) for q in c.qa], f"split_seed={c.split_seed}"]
        self.stages.run(
            "data", data / "split.json", lambda: print(split_own_data(c.qa, data, c.split_seed)), args, [data]
        )
        gold = Path(c.gold_overlap).resolve() if c.gold_overlap else None
        return StudyInputs(corpus, data / "train.jsonl", data / "dev.jsonl", data / "test.jsonl", gold)

    def tokenizer(self, inputs: StudyInputs) -> Path:
        from cbqa.commands import tokenizer

        tok = self.out / "tokenizer"
        argv = flags(corpus=inputs.corpus, qa=inputs.train, out=tok, vocab_size=self.cfg.vocab_size)
        self.stages.command("tokenizer", tok / "tokenizer.json", tokenizer.main, argv, [tok])
        return tok

    def ner(self, inputs: StudyInputs) -> Path:
        from cbqa.commands import ner

        spans = self.out / "spans"
        self.stages.command("ner", spans / "manifest.json", ner.main, flags(corpus=inputs.corpus, out=spans), [spans])
        return spans

    def variant(self, v: str, inputs: StudyInputs, spans: Path | None) -> None:
        """One variant's chain: its training stages (each in a child process), then its test predictions."""
        from cbqa.commands import predict

        c, run = self.cfg, self.out / "models" / v
        qa_task = {"name": "qa", "kind": "qa", "file": str(inputs.train)}
        for stage, run_dir, argv in variant_recipe(
            c, self.out, v, qa_task, spans, self.out / "pretrain" / v, run, inputs.dev
        ):
            self.child(f"{stage} {v}", run_dir / "summary.json", ["pretrain", *argv], [run_dir])
        pred = self.out / "predictions" / f"closed_book_{v}.jsonl"
        argv = flags(model=run, questions=inputs.test, out=pred, num_beams=4, top_k=4)
        self.stages.command(f"predict {v}", pred, predict.main, argv, [pred, Path(f"{pred}.meta.json")])

    def forget_other_run(self) -> bool:
        """Remove a manifest.json that describes a run with other settings: from here on the directory holds a
        mix until this run finishes and writes its own, and the app must not present that mix as the old run.
        Returns whether the manifest of a finished run with these settings is there."""
        path = self.out / MANIFEST
        if not path.exists():
            return False
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
            return False
        return True

    def overlap_labels(self, inputs: StudyInputs, spans: Path | None) -> Path:
        """Lewis et al.'s categories for the test questions, by the detector (compared with the gold labels when the
        study has them); the corpus's sentences from the spans store (the sentences SSM masks in)."""
        from cbqa.commands import overlap
        from cbqa.overlap.labeller import DEFAULT_THRESHOLDS

        od = self.out / "overlap"
        # the detector's defaults spelled out, so that the stage reruns if they change (docs/overlap.md)
        argv = flags(train=inputs.train, test=inputs.test, corpus=inputs.corpus, method="dense")
        argv += flags(
            threshold=DEFAULT_THRESHOLDS["dense"], summary_json=od / "summary.json", out=od / "test_overlap.jsonl"
        )
        argv += ["--require-shared-answer", *(flags(spans=spans) if spans else [])]
        if inputs.gold_overlap is not None:
            argv += flags(gold_labels=inputs.gold_overlap, comparison_json=od / "gold_comparison.json")
        self.stages.command("overlap labels", od / "test_overlap.jsonl", overlap.main, argv, [od])
        return od / "test_overlap.jsonl"

    def side_stages(self, inputs: StudyInputs, spans: Path | None) -> tuple[Path, dict[str, str]]:
        """The stages that train nothing: the overlap labels, the nearest-neighbour baselines and the retrieval arm's
        inputs; returns the labels and the baselines' prediction files by system name."""
        overlap = self.overlap_labels(inputs, spans)
        neighbours = self.neighbours(inputs)
        if self.cfg.retrieval:
            retrieval_inputs(self.cfg, self.out, self.stages, inputs)
        return overlap, neighbours

    def neighbours(self, inputs: StudyInputs) -> dict[str, str]:
        from cbqa.commands import nn_baseline

        out = {}
        for method in ("tfidf", "dense"):
            p = self.out / "predictions" / f"nearest_neighbour_{method}.jsonl"
            argv = flags(train=inputs.train, test=inputs.test, method=method, out=p)
            self.stages.command(f"nearest-neighbour baseline ({method})", p, nn_baseline.main, argv)
            out[f"nearest_neighbour_{method}"] = str(p)
        return out

    def report(self, predictions: dict[str, str], inputs: StudyInputs, detected: Path) -> Path:
        """results.json by the true overlap categories where the study has them (the toy world), else by the
        detector's; results_detected.json always by the detector's."""
        from cbqa.commands import evaluate

        rd = self.out / "report"
        preds = [f"{name}={path}" for name, path in predictions.items()]
        for stem, labels, what in (
            ("results", inputs.gold_overlap or detected, "gold" if inputs.gold_overlap else "detected"),
            ("results_detected", detected, "detected"),
        ):
            console.rule(f"[bold]test EM/F1 by {what} overlap category")
            files = flags(json=rd / f"{stem}.json", markdown=rd / f"{stem}.md", plot=rd / f"{stem}.png")
            evaluate.main(["--predictions", *preds, *flags(gold=inputs.test, overlap=labels), *files])
        return rd / "results.json"


def longest_first(chains: dict[str, Any], cfg: StudyConfig) -> list[Any]:
    """The chains, longest first (so the lanes end together): a variant's cost is its steps; the retrieval arm's,
    three times the reader's steps (a FiD step reads K passages of 128 tokens)."""
    cost = dict.fromkeys(cfg.variants, cfg.pretrain_steps + cfg.steps)
    arm = 3 * cfg.reader_steps if cfg.retrieval else 0
    cost["retrieval"] = arm
    if cfg.retrieval and "ssm" in cost:
        cost["ssm"] += arm
    return [chains[k] for k in sorted(chains, key=lambda k: -cost.get(k, 0))]


def write_summary(out: Path, cfg: StudyConfig) -> None:
    """OUT/report/summary.json: the study's headline figures in one place (what the results registry reads): EM by
    system and category, the differences the study's conclusions rest on, the counterfactual check, the time."""
    results = json.loads((out / "report" / "results.json").read_text())
    em = {name: {cat: s["em"] for cat, s in per.items()} for name, per in results.items()}
    summary: dict[str, Any] = {"em": em, "differences": {}}
    d = summary["differences"]
    for cat in ("total", "answer_overlap_only", "no_overlap"):
        for other in ("none", "span_corruption"):
            if "closed_book_ssm" in em and f"closed_book_{other}" in em:
                d[f"ssm_minus_{other}_{cat}"] = em["closed_book_ssm"][cat] - em[f"closed_book_{other}"][cat]
    reader = next((n for n in em if n.startswith("retrieval_")), None)
    if reader is not None:
        for floor in ("extractive_floor", "extractive_floor_sentence"):
            if floor in em:
                d[f"reader_minus_{floor}_no_overlap"] = em[reader]["no_overlap"] - em[floor]["no_overlap"]
    cloze = out / "report" / "cloze.json"
    if cloze.is_file():  # P@1 by variant, stage (pretrain: after pretraining; models: after fine-tuning) and subjects
        rows = json.loads(cloze.read_text())["variants"]
        summary["cloze"] = {
            r["variant"]: {
                stage: {split: s["p@1"] for split, s in (r.get(stage) or {}).items()}
                for stage in ("pretrain", "models")
            }
            for r in rows
        }
    cf = out / "retrieval" / "counterfactual.json"
    if cf.is_file():
        summary["counterfactual"] = {k: v for k, v in json.loads(cf.read_text()).items() if isinstance(v, (int, float))}
    timings = json.loads((out / "timings.json").read_text())
    summary["wall_s"] = {"total": timings["total_s"], **timings["stages_s"]}
    write_json(out / "report" / "summary.json", summary)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A study config as JSON, without where it was written or how many lanes ran it (neither changes a result)."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in ("out", "lanes")}))


def _relative(obj: Any, base: Path) -> Any:
    """Paths inside the run directory are stored relative to it, so the run can be moved or copied."""
    if isinstance(obj, dict):
        return {k: _relative(v, base) for k, v in obj.items()}
    if isinstance(obj, str) and obj.startswith(str(base) + "/"):
        return obj[len(str(base)) + 1 :]
    return obj

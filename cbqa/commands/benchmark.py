"""`cbqa benchmark`: one model on one prepared benchmark (`cbqa data prepare`), as the paper scores it.

    cbqa benchmark --data data/web_questions --model google/t5-v1_1-base \\
        [--finetune configs/paper/web_questions.yaml] [--overlap LABELS] --out runs/bench_wq [-- TRAINING OPTIONS]

1. with --finetune, fine-tunes through `cbqa finetune` (the config's settings; its data is replaced by the prepared
   dataset's one task: train.jsonl, the protocol's prefix and normaliser, validation.jsonl choosing the checkpoint;
   options after `--` go to the training command last), into OUT/finetune;
2. answers the test questions with the model's recorded input prefix (its own record, else the protocol's);
3. scores EM / F1 with the dataset's normaliser, overall and per test-train overlap category: Lewis et al.'s released
   labels with --overlap (a directory holding `*-annotations.jsonl` and the `*-test.qa.csv` they index, joined to
   the test questions by their text; or a `cbqa overlap` JSONL joined by id), else the detector's (`cbqa overlap`
   over the prepared train and validation questions);
4. writes OUT/benchmark.json (the results row), OUT/predictions/, OUT/overlap.jsonl, OUT/report/results.json and
   OUT/manifest.json, so `cbqa app --runs OUT/..` shows the row beside the published rows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from cbqa.core.metrics import NORMALISERS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa benchmark",
        description=__doc__.split("\n\n")[0],
        epilog="Options after `--` are passed to `cbqa finetune` (e.g. -- --trainer.max_steps 100).",
    )
    p.add_argument("--data", required=True, help="a prepared dataset directory (cbqa data prepare NAME --out DIR)")
    p.add_argument(
        "--model",
        help="hub name, HF model directory or cbqa run directory; with --finetune it may be left out: the training "
        "config's model (model.model, or a T5 it builds from model.tokenizer + model.arch)",
    )
    p.add_argument(
        "--finetune",
        nargs="+",
        metavar="CONFIG",
        help="fine-tune first with these training configs (e.g. configs/paper/web_questions.yaml, stackable)",
    )
    p.add_argument(
        "--overlap",
        metavar="LABELS",
        help="Lewis et al.'s released labels (a directory with *-annotations.jsonl and *-test.qa.csv, e.g. "
        "../shared/data/qa_overlap for NQ) or a `cbqa overlap` JSONL; default: the detector's labels",
    )
    p.add_argument(
        "--overlap-method",
        choices=("tfidf", "dense", "both"),
        default="tfidf",
        help="the detector's question similarity without --overlap (default tfidf)",
    )
    p.add_argument("--predictions", metavar="FILE", help="score this predictions file instead of asking the model")
    p.add_argument("--out", required=True, help="directory of the run's files (benchmark.json, ...)")
    p.add_argument("--normaliser", choices=NORMALISERS, help="default: the dataset's (its manifest says)")
    p.add_argument("--prefix", help="input prefix (default: the model's recorded one, else the dataset's)")
    p.add_argument("--max-questions", type=int, help="answer only the first N test questions (a smoke run; said so)")
    p.add_argument("--num-beams", type=int, default=1, help="1 = greedy, as the paper decodes")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    return p


def main(argv: list[str]) -> int:
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(own)
    from cbqa.core.errors import CbqaError
    from cbqa.core.locks import writer_lock

    if extra and not args.finetune:
        raise CbqaError("options after `--` are for fine-tuning; give --finetune CONFIG")
    if args.model is None and not args.finetune:
        raise CbqaError("--model is required (it may be left out only with --finetune, whose config names the model)")
    if args.max_questions is not None and args.max_questions < 1:
        raise CbqaError(f"--max-questions {args.max_questions}: must be >= 1")
    out = Path(args.out)
    with writer_lock(out, "cbqa benchmark"):
        row = run(args, extra, out)
    total = row.total
    scored = "hidden test set: not scored" if total is None else f"EM {total.em:.2f}  F1 {total.f1:.2f}  n {total.n}"
    print(f"{row.title} ({row.protocol}), {row.system}: {scored}  ({row.normaliser} normaliser)")
    for name, score in row.categories.items():
        if name != "total" and score.n:
            print(f"  {name}: EM {score.em:.2f}  n {score.n}")
    print(
        f"wrote {out}/benchmark.json, predictions/, overlap.jsonl, report/results.json, manifest.json", file=sys.stderr
    )
    return 0


def run(args: argparse.Namespace, extra: list[str], out: Path):
    from cbqa import __version__
    from cbqa.benchmarks.prepare import read_prepared
    from cbqa.benchmarks.protocols import DATASETS
    from cbqa.benchmarks.row import ROW_FILE, ROW_FORMAT, BenchmarkRow, Score, Timing
    from cbqa.core.contracts import write_contract
    from cbqa.core.errors import CbqaError
    from cbqa.core.formats.jsonl import write_json, write_jsonl
    from cbqa.core.formats.qa import read_qa
    from cbqa.overlap.categories import TOTAL
    from cbqa.overlap.evaluation import evaluate_systems

    t0 = time.perf_counter()
    data = Path(os.path.abspath(args.data))  # the published path (a symlink to its version), as the user named it
    manifest = read_prepared(data)
    spec = DATASETS.get(manifest.dataset)
    full_test = read_qa(data / "test.jsonl", require_answers=False)
    test = full_test[: args.max_questions] if args.max_questions else full_test
    if not test:
        raise CbqaError(f"{data / 'test.jsonl'}: no test questions")
    normaliser = args.normaliser or manifest.normaliser
    named = Path(args.model.rstrip("/")).name or args.model if args.model else Path(args.finetune[-1]).stem
    system = "closed_book_" + re.sub(r"[^A-Za-z0-9_.-]+", "-", named)
    out.mkdir(parents=True, exist_ok=True)

    model, finetune_s = args.model, None
    if args.finetune:
        t = time.perf_counter()
        model = str(finetune(args, extra, data, manifest, out / "finetune", spec.short if spec else manifest.dataset))
        finetune_s = time.perf_counter() - t
        system += "_finetuned"
    if args.predictions:
        preds, predict_s = read_given(args.predictions, full_test, test), None
        # the prefix a given predictions file was made with is not known here (unless --prefix says it)
        prefix, prefix_from = (args.prefix, "option") if args.prefix is not None else ("", "predictions")
    else:
        t = time.perf_counter()
        prefix, prefix_from = input_prefix(model, args.prefix, manifest.prefix, spec.short if spec else None)
        preds = answer(model, test, prefix, args)
        predict_s = time.perf_counter() - t
    from cbqa.core.formats.predictions import write_predictions

    pred_path = out / "predictions" / f"{system}.jsonl"
    write_predictions(pred_path, preds)

    has_answers = all(e.answers for e in test)
    rows, overlap_from = (None, None)
    if has_answers:
        rows, overlap_from = overlap_rows(args, data, test)
        write_jsonl(out / "overlap.jsonl", rows)
    result = evaluate_systems({system: preds}, test, rows, normaliser=normaliser) if has_answers else {}
    if result:
        write_json(out / "report" / "results.json", result)
    per = result.get(system, {})
    categories = {k: Score(em=v["em"], f1=v["f1"], n=v["n"]) for k, v in per.items()}
    relations = by_relation(preds, test, normaliser) if any("relation" in e.extra for e in test) else None
    from cbqa.model.inference import pick_device

    row = BenchmarkRow(
        format=ROW_FORMAT,
        dataset=manifest.dataset,
        title=manifest.title,
        protocol=manifest.protocol,
        published_column=spec.published_column.get(manifest.protocol) if spec else None,
        data=str(data),
        test_fingerprint=manifest.splits["test"].fingerprint,
        heldout_ids_fingerprint=manifest.heldout_ids_fingerprint,
        model=args.model or "the fine-tuning config's",
        finetuned=bool(args.finetune),
        finetune_configs=[str(Path(c).resolve()) for c in args.finetune or []],
        answered_by=str(model),
        prefix=prefix,
        prefix_from=prefix_from,
        normaliser=normaliser,
        system=system,
        predictions=str(pred_path.relative_to(out)),
        questions=len(preds),
        max_questions=args.max_questions,
        total=categories.get(TOTAL),
        categories=categories,
        relations=relations,
        overlap=overlap_from,
        timing=Timing(finetune_s=rounded(finetune_s), predict_s=rounded(predict_s), total_s=0.0),
        device=str(pick_device(args.device)) if not args.predictions else "-",
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        cbqa_version=__version__,
    )
    row.timing.total_s = rounded(time.perf_counter() - t0)
    write_contract(out / ROW_FILE, row)
    write_run_manifest(out, data, system, pred_path, model, bool(args.finetune), has_answers)
    return row


def rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def finetune(args, extra: list[str], data: Path, manifest, run_dir: Path, task_name: str) -> Path:
    """Fine-tune through `cbqa finetune` with the configs, the prepared dataset as the one task; the run directory."""
    from cbqa.commands.finetune import READER_OPTIONS_MOVED
    from cbqa.core.errors import CbqaError
    from cbqa.training.cli import run_training

    task: dict[str, Any] = {
        "name": task_name,
        "kind": "qa",
        "file": str(data / "train.jsonl"),
        "prefix": manifest.prefix,
        "normaliser": manifest.normaliser,
    }
    if manifest.splits["validation"].rows:
        task["val_file"] = str(data / "validation.jsonl")
    argv = [a for c in args.finetune for a in ("-c", c)]
    argv += ["--model.model", args.model] if args.model else []
    argv += ["--run_dir", str(run_dir), "--data.tasks", json.dumps([task])]
    code = run_training(argv + extra, "cbqa finetune", str(run_dir), moved=READER_OPTIONS_MOVED)
    if code != 0:
        raise CbqaError(f"fine-tuning stopped (exit {code}); rerun the same command to resume from {run_dir}")
    return run_dir


def input_prefix(model: str, given: str | None, dataset_prefix: str, task: str | None) -> tuple[str, str]:
    """(prefix, where it came from): --prefix, else the model's record (its task of this dataset, or its only QA
    prefix), else the protocol's."""
    from cbqa.model.inputs import recorded_inputs
    from cbqa.model.loading import resolve_model_path

    if given is not None:
        return given, "option"
    record = recorded_inputs(resolve_model_path(model)) if Path(model).exists() else None
    if record is not None:
        names = [t.name for t in record.tasks]
        prefix = record.qa_prefix(task) if task in names else record.qa_prefix()
        if prefix is not None:
            return prefix, "recorded"
    return dataset_prefix, "dataset"


def answer(model: str, test, prefix: str, args):
    from cbqa.core.formats.predictions import Prediction
    from cbqa.core.progress import progress_bar
    from cbqa.model.inference import Answerer

    answerer = Answerer(model, args.device, prefix)
    with progress_bar("answer", total=len(test)) as advance:
        cands = answerer.answer(
            [e.question for e in test],
            num_beams=args.num_beams,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            progress=advance,
        )
    return [Prediction(e.id, e.question, c[0].text, e.answers or None) for e, c in zip(test, cands)]


def read_given(path: str, full_test, test) -> list:
    """The predictions of `path` for the questions of `test` (every one of them must be there: scoring says which
    is missing); an id that is no test question of the dataset at all is an error."""
    from cbqa.core.errors import CbqaError
    from cbqa.core.formats.predictions import read_predictions

    preds = read_predictions(path)
    known = {e.id for e in full_test}
    unknown = [p.id for p in preds if p.id not in known]
    if unknown:
        raise CbqaError(f"{path}: prediction id {unknown[0]!r} is not a test question of the prepared dataset")
    wanted = {e.id for e in test}
    return [p for p in preds if p.id in wanted]


def overlap_rows(args, data: Path, test) -> tuple[list[dict], str]:
    """Overlap rows (by the test questions' ids) and where they came from."""
    from cbqa.core.errors import CbqaError
    from cbqa.core.formats.qa import read_qa
    from cbqa.overlap.released_labels import join_by_question, read_label_rows, released_overlap_rows

    if args.overlap:
        path = Path(args.overlap)
        if path.is_dir():
            annotations = sorted(path.glob("*-annotations.jsonl"))
            dpr = sorted(path.glob("*-test.qa.csv"))
            if len(annotations) != 1 or len(dpr) != 1:
                raise CbqaError(
                    f"{path}: expected one *-annotations.jsonl and the one *-test.qa.csv it indexes "
                    f"(found {len(annotations)} and {len(dpr)})"
                )
            released = released_overlap_rows(annotations[0], read_qa(dpr[0]), dpr[0])
            return join_by_question(released, test, annotations[0]), f"released: {path.resolve()}"
        by_id = {str(obj.get("id")): obj for _, obj in read_label_rows(path)}
        missing = [e.id for e in test if e.id not in by_id]
        if missing:
            raise CbqaError(f"{path}: no overlap row for test question {missing[0]!r} ({len(missing)} missing)")
        return [by_id[e.id] for e in test], f"labels: {path.resolve()}"
    from cbqa.overlap.labeller import OverlapConfig, label_overlap

    train = read_qa(data / "train.jsonl") + read_qa(data / "validation.jsonl")
    methods = ("tfidf", "dense") if args.overlap_method == "both" else (args.overlap_method,)
    rows = label_overlap(train, test, OverlapConfig(methods=methods))
    return rows, f"detector: {args.overlap_method}, against the {len(train):,} train and validation questions"


def by_relation(preds, test, normaliser: str) -> dict:
    from cbqa.benchmarks.row import Score
    from cbqa.core.metrics import score

    answers = {e.id: (e.answers, e.extra.get("relation")) for e in test}
    groups: dict[str, tuple[list[str], list[list[str]]]] = {}
    for p in preds:
        golds, relation = answers[p.id]
        g = groups.setdefault(str(relation), ([], []))
        g[0].append(p.prediction)
        g[1].append(golds)
    return {r: Score(**score(p, g, normaliser).to_json()) for r, (p, g) in sorted(groups.items())}


def write_run_manifest(
    out: Path, data: Path, system: str, pred_path: Path, model: str, finetuned: bool, scored: bool
) -> None:
    """OUT/manifest.json, so the app opens OUT as a run (its Benchmark page shows the row)."""
    from cbqa.core.contracts import write_contract
    from cbqa.core.formats.run_manifest import MANIFEST, RunManifest

    manifest = RunManifest(
        name=out.name,
        train=str(data / "train.jsonl"),
        dev=str(data / "validation.jsonl"),
        test=str(data / "test.jsonl"),
        overlap="overlap.jsonl" if scored else None,
        predictions={system: str(pred_path.relative_to(out))},
        models={system: str(Path(model).resolve())} if Path(model).exists() else {},
        runs={"finetune": "finetune"} if finetuned else {},
        report="report/results.json" if scored else None,
        benchmark="benchmark.json",
    )
    write_contract(out / MANIFEST, manifest)

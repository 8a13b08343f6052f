"""`cbqa study`: the whole comparison on your own corpus and questions — salient span masking against plain
fine-tuning and span corruption, the retrieval arm, test-train overlap, one report — in one resumable command.

    cbqa study --corpus passages.jsonl --qa qa.jsonl --out runs/study                   # rows with a `split` field
    cbqa study --corpus c.jsonl --qa train.jsonl dev.jsonl test.jsonl --out runs/study  # three files
    cbqa study --corpus c.jsonl --qa all.jsonl --split-seed 0 --out runs/study          # split 80/10/10 by a seed
    cbqa study ... --model google/t5-v1_1-base      # start every variant from a hub or local T5 (GPU)
    cbqa study ... --arch small                     # or build one from a preset (tiny: the demo's ~1M model)

It writes what `cbqa demo` writes (the same stages, files and report; docs/study.md), and `cbqa app --runs OUT`
shows it. Rerunning the same command resumes; a changed setting reruns what it changes.
"""

from __future__ import annotations

import argparse

from cbqa.core.errors import CbqaError
from cbqa.core.locks import writer_lock
from cbqa.demo.config import ARCHS, VARIANTS, StudyConfig


def add_study_arguments(ap: argparse.ArgumentParser, d: StudyConfig) -> None:
    """The options `cbqa study` and `cbqa demo` share."""
    ap.add_argument("--out", default=d.out, help=f"run directory (default {d.out})")
    ap.add_argument("--variants", nargs="+", default=list(d.variants), choices=list(VARIANTS))
    ap.add_argument("--train-seed", type=int, default=None, help="seed of every training stage (default: --seed)")
    steps = ap.add_argument_group("training")
    steps.add_argument(
        "--pretrain-steps", type=int, default=d.pretrain_steps, help="masked objective alone (default %(default)s)"
    )
    steps.add_argument(
        "--steps", type=int, default=d.steps, help="fine-tuning: QA mixed with the objective (default %(default)s)"
    )
    steps.add_argument("--batch-size", type=int, default=d.batch_size)
    steps.add_argument("--reader-steps", type=int, default=d.reader_steps)
    steps.add_argument(
        "--reader-anonymise",
        action=argparse.BooleanOptionalAction,
        default=d.reader_anonymise,
        help="the FiD reader reads entities as per-question placeholders (default: on)",
    )
    steps.add_argument(
        "--reader-clozes",
        action=argparse.BooleanOptionalAction,
        default=d.reader_clozes,
        help="mix clozes from the spans store into the reader's training (default: off)",
    )
    ap.add_argument(
        "--retrieval", action=argparse.BooleanOptionalAction, default=True, help="the retrieval arm (default: on)"
    )
    ap.add_argument("--lanes", type=int, default=d.lanes, help="stages run side by side (default %(default)s)")
    ap.add_argument(
        "--threads",
        type=int,
        default=d.threads,
        help="torch threads of every training and prediction (default %(default)s)",
    )


def config_from(args: argparse.Namespace, **more) -> StudyConfig:
    return StudyConfig(
        out=args.out,
        variants=tuple(args.variants),
        train_seed=args.train_seed,
        pretrain_steps=args.pretrain_steps,
        steps=args.steps,
        batch_size=args.batch_size,
        reader_steps=args.reader_steps,
        reader_anonymise=args.reader_anonymise,
        reader_clozes=args.reader_clozes,
        retrieval=args.retrieval,
        lanes=args.lanes,
        threads=args.threads,
        **more,
    )


def main(argv: list[str]) -> int:
    d = StudyConfig(out="runs/study")
    ap = argparse.ArgumentParser(
        prog="cbqa study", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--corpus", required=True, help="corpus: JSONL {id, title?, text}, .txt, DPR .tsv, .parquet, HF dataset dir"
    )
    ap.add_argument(
        "--qa", nargs="+", required=True, metavar="FILE", help="one QA file with a `split` field, or train dev test"
    )
    ap.add_argument(
        "--split-seed", type=int, help="split one QA file without splits 80/10/10 after shuffling with this seed"
    )
    ap.add_argument(
        "--gold-overlap", help="overlap labels known to be true for the test questions (JSONL: id, category)"
    )
    model = ap.add_mutually_exclusive_group()
    model.add_argument("--model", help="start every variant from this T5: hub name or local HF directory (GPU)")
    model.add_argument(
        "--arch", choices=list(ARCHS), default="tiny", help="else build one: tiny (~1M) | small (t5-small's size)"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the training stages (default %(default)s)")
    add_study_arguments(ap, d)
    args = ap.parse_args(argv)
    if args.model is None and args.arch not in ARCHS:
        raise CbqaError(f"--arch {args.arch}: one of {', '.join(ARCHS)}")
    cfg = config_from(
        args,
        corpus=args.corpus,
        qa=tuple(args.qa),
        split_seed=args.split_seed,
        gold_overlap=args.gold_overlap,
        model=args.model,
        seed=args.seed,
        arch=dict(ARCHS[args.arch]) if args.model is None else {},
    )
    with writer_lock(cfg.out, "cbqa study"):
        return report(cfg)


def report(cfg: StudyConfig) -> int:
    from cbqa.demo.pipeline import Study

    result = Study(cfg).run()
    print(f"\nStudy finished in {result['wall_s'] / 60:.1f} min. Outputs in {cfg.out}/:")
    print(f"  report      {result['report'].parent}/ (results.md, results.png, summary.json, results_detected.*)")
    print(f"  manifest    {result['manifest']}")
    print(f"  models      {cfg.out}/models/<variant>/hf")
    print(f"  predictions {cfg.out}/predictions/*.jsonl")
    print(f"\nExplore it in the app:  cbqa app --runs {cfg.out}")
    return 0

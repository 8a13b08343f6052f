"""`cbqa demo`: the whole study on the embedded toy world (NER, pretraining variants, closed-book QA, retrieval
baseline, overlap analysis, report). Re-running resumes: finished stages are skipped."""

from __future__ import annotations

import argparse

from cbqa.core.locks import writer_lock
from cbqa.demo import VARIANTS, Demo, DemoConfig


def main(argv: list[str]) -> int:
    d = DemoConfig()
    ap = argparse.ArgumentParser(prog="cbqa demo", description=__doc__)
    ap.add_argument("--out", default=d.out, help=f"run directory (default {d.out})")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--people", type=int, default=d.people, help="size of the toy world")
    ap.add_argument("--variants", nargs="+", default=list(d.variants), choices=list(VARIANTS))
    ap.add_argument(
        "--pretrain-steps",
        type=int,
        default=d.pretrain_steps,
        help=f"steps on the masked objective alone (span corruption, SSM; default {d.pretrain_steps})",
    )
    ap.add_argument(
        "--steps",
        type=int,
        default=d.steps,
        help=f"fine-tuning steps, QA mixed with the objective (default {d.steps}); 'none' trains QA for both",
    )
    ap.add_argument("--reader-steps", type=int, default=d.reader_steps)
    ap.add_argument(
        "--reader-anonymise",
        action=argparse.BooleanOptionalAction,
        default=d.reader_anonymise,
        help="train and run the FiD reader on passages whose entities are per-question placeholders, "
        f"mapped back in the answer (cbqa.reader.anonymise; default {'on' if d.reader_anonymise else 'off'})",
    )
    ap.add_argument(
        "--reader-clozes",
        action=argparse.BooleanOptionalAction,
        default=d.reader_clozes,
        help="mix reading examples (clozes from the spans store) into the FiD reader's training "
        f"(default {'on' if d.reader_clozes else 'off'})",
    )
    ap.add_argument("--batch-size", type=int, default=d.batch_size)
    ap.add_argument("--no-retrieval", action="store_true", help="skip the retrieval baseline")
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run with a tiny model (for tests)")
    ap.add_argument(
        "--memorisation",
        action="store_true",
        help="instead: train the variants on a canaried world (two seeds) and report canary exposure, "
        "extraction precision@100 and dev EM (default --out runs/demo_memorisation)",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="--memorisation: seeds (default SEED SEED+1)")
    ap.add_argument("--samples", type=int, default=400, help="--memorisation: extraction samples per model (400)")
    args = ap.parse_args(argv)
    if args.memorisation and args.out == d.out:
        args.out = "runs/demo_memorisation"
    cfg = DemoConfig(
        out=args.out,
        seed=args.seed,
        people=args.people,
        variants=tuple(args.variants),
        pretrain_steps=args.pretrain_steps,
        steps=args.steps,
        reader_steps=args.reader_steps,
        batch_size=args.batch_size,
        retrieval=not args.no_retrieval,
        reader_anonymise=args.reader_anonymise,
        reader_clozes=args.reader_clozes,
    )
    if args.smoke:
        cfg.people, cfg.pretrain_steps, cfg.steps, cfg.reader_steps, cfg.val_every = 20, 6, 6, 6, 3
        cfg.vocab_size = 300
        cfg.arch = {"d_model": 32, "d_ff": 64, "num_heads": 2, "d_kv": 16, "num_layers": 1, "num_decoder_layers": 1}
    with writer_lock(cfg.out, "cbqa demo"):  # one demo per output directory at a time
        return _run(cfg, args)


def _run(cfg: DemoConfig, args: argparse.Namespace) -> int:
    if args.memorisation:
        from cbqa.demo.memorisation import MemorisationDemo

        seeds = tuple(args.seeds or (args.seed, args.seed + 1))
        result = MemorisationDemo(cfg, seeds, samples=args.samples if not args.smoke else 20).run()
        print(f"\nMemorisation demo finished in {result['wall_s'] / 60:.1f} min; report: {result['report']} (and .md)")
        print(f"Explore it in the app's Memorisation page:  cbqa app --runs {cfg.out}")
        return 0
    result = Demo(cfg).run()
    print(f"\nDemo finished in {result['wall_s'] / 60:.1f} min. Outputs in {cfg.out}/:")
    print(f"  report      {result['report'].parent}/ (results.md, results.png, results_detected.*)")
    print(f"  manifest    {result['manifest']}")
    print(f"  models      {cfg.out}/models/<variant>/hf")
    print(f"  predictions {cfg.out}/predictions/*.jsonl")
    print(f"\nExplore it in the app:  cbqa app --runs {cfg.out}")
    return 0

"""`cbqa demo`: the whole study (`cbqa study`) on the embedded toy world: NER, pretraining variants, closed-book QA,
the retrieval arm, overlap analysis, report. Re-running resumes: finished stages are skipped."""

from __future__ import annotations

import argparse

from cbqa.commands.study import add_study_arguments, config_from, report
from cbqa.core.locks import writer_lock
from cbqa.demo.config import StudyConfig

SMOKE = {"d_model": 32, "d_ff": 64, "num_heads": 2, "d_kv": 16, "num_layers": 1, "num_decoder_layers": 1}


def main(argv: list[str]) -> int:
    d = StudyConfig()
    ap = argparse.ArgumentParser(prog="cbqa demo", description=__doc__)
    ap.add_argument("--seed", type=int, default=d.seed, help="the world's seed, and training's unless --train-seed")
    ap.add_argument("--people", type=int, default=d.people, help="size of the toy world")
    add_study_arguments(ap, d)
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
    cfg = config_from(args, seed=args.seed, people=args.people)
    if args.smoke:
        cfg.people, cfg.pretrain_steps, cfg.steps, cfg.reader_steps, cfg.val_every = 20, 6, 6, 6, 3
        cfg.vocab_size, cfg.arch = 300, dict(SMOKE)
    with writer_lock(cfg.out, "cbqa demo"):  # one demo per output directory at a time
        if not args.memorisation:
            return report(cfg)
        from cbqa.demo.memorisation import MemorisationDemo

        seeds = tuple(args.seeds or (args.seed, args.seed + 1))
        result = MemorisationDemo(cfg, seeds, samples=args.samples if not args.smoke else 20).run()
        print(f"\nMemorisation demo finished in {result['wall_s'] / 60:.1f} min; report: {result['report']} (and .md)")
        print(f"Explore it in the app's Memorisation page:  cbqa app --runs {cfg.out}")
        return 0

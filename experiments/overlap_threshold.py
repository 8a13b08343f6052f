"""How the question-overlap detector's default thresholds were chosen (docs/notes/2026-12-01-overlap-threshold.md).

The detector follows Lewis et al.'s definition: a test question overlaps a training question when they ask the same
thing, judged only among the training questions that share a normalised gold answer with it. Its similarity threshold
is chosen once, at the highest F1 averaged over two labelled sources the project builds itself, and then frozen in
`cbqa.overlap.labeller.DEFAULT_THRESHOLDS`:

1. the constructed paraphrase check (`cbqa.overlap.paraphrase_check`) over WebQuestions test with SQuAD distractors,
   in its shared-answer form: half the questions have a rule-based paraphrase in training (positives), the other half
   an entity-swapped question that keeps the answer (lexically close, a different question: hard negatives);
2. paraphrase pairs from toy worlds with seeds other than the demo's (default 1 2 3): every dev and test question
   against its world's train split, labelled by the generator (a paraphrase asks the same subject and relation).

    python experiments/overlap_threshold.py --pool ../shared/data/webquestions/test.jsonl \\
        --distractors ../shared/data/squad_v1.1_dev/qa.jsonl --json runs/overlap_threshold.json

It prints, per method, the sweep of each source and the chosen threshold, and says whether it differs from the frozen
default (a new default is a code change, never picked up silently).
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from cbqa.core.formats.jsonl import write_json
from cbqa.core.formats.qa import read_qa
from cbqa.overlap.labeller import DEFAULT_THRESHOLDS
from cbqa.overlap.paraphrase_check import best_threshold, build_check, shared_answer_scores, sweep
from cbqa.overlap.question_similarity import build_index
from cbqa.world import WorldConfig, generate_world

THRESHOLDS = [round(0.3 + 0.01 * i, 2) for i in range(70)]


def constructed_source(pool: str, distractors: str | None, method: str, seed: int = 0):
    check = build_check(read_qa(pool), read_qa(distractors) if distractors else [], seed, same_answer_swaps=True)
    index = build_index(method, check.train)
    return shared_answer_scores(index, check.train, check.test), [ex.id in check.positive_ids for ex in check.test]


def world_source(seeds: list[int], method: str):
    scores, positive = [], []
    for seed in seeds:
        world = generate_world(WorldConfig(seed=seed))
        category = {g.id: g.category for g in world.gold}
        train = [q for q in world.questions if q.split == "train"]
        held = [q for q in world.questions if q.split in ("dev", "test")]
        index = build_index(method, train)
        scores += shared_answer_scores(index, train, held)
        positive += [category[q.id] == "question_overlap" for q in held]
    return scores, positive


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", required=True, help="QA file of the constructed check (WebQuestions test)")
    p.add_argument("--distractors", help="QA file padding the constructed check's training side (SQuAD)")
    p.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 3], help="toy-world seeds (not the demo's 0)")
    p.add_argument("--methods", nargs="+", default=["dense", "tfidf"], choices=["dense", "tfidf"])
    p.add_argument("--json", help="write the sweeps and the chosen thresholds here")
    args = p.parse_args(argv)
    console, start, report = Console(), time.perf_counter(), {}
    for method in args.methods:
        sources = {
            "constructed (WebQuestions + SQuAD)": constructed_source(args.pool, args.distractors, method),
            f"toy worlds {args.worlds}": world_source(args.worlds, method),
        }
        t, at = best_threshold(sources, THRESHOLDS)
        pooled = sweep([s for v in sources.values() for s in v[0]], [x for v in sources.values() for x in v[1]], [t])[0]
        table = Table(title=f"{method}: shared-answer question overlap vs labelled paraphrases")
        table.add_column("threshold", justify="right")
        for name in sources:
            table.add_column(f"{name}\nP / R / F1", justify="right")
        sweeps = {name: sweep(*v, THRESHOLDS) for name, v in sources.items()}
        for i, th in enumerate(THRESHOLDS):
            if i % 5 == 0 or th == t:
                cells = [
                    f"{100 * r[i]['precision']:.1f} / {100 * r[i]['recall']:.1f} / {100 * r[i]['f1']:.1f}"
                    for r in sweeps.values()
                ]
                table.add_row(f"[bold]{th:.2f}[/bold]" if th == t else f"{th:.2f}", *cells)
        console.print(table)
        n = {name: (len(v[1]), sum(v[1])) for name, v in sources.items()}
        console.print(
            f"{method}: best mean F1 at {t:.2f} (frozen default {DEFAULT_THRESHOLDS[method]:.2f}"
            f"{'' if abs(t - DEFAULT_THRESHOLDS[method]) < 1e-9 else ' - DIFFERS'}); pooled "
            f"P {100 * pooled['precision']:.1f} R {100 * pooled['recall']:.1f}; pairs (n, positives) {n}"
        )
        report[method] = {
            "threshold": t,
            "frozen": DEFAULT_THRESHOLDS[method],
            "at_threshold": at,
            "pooled": pooled,
            "pairs": n,
            "sweeps": sweeps,
        }
    console.print(f"done in {time.perf_counter() - start:.1f} s")
    if args.json:
        write_json(args.json, {"thresholds": THRESHOLDS, **report})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

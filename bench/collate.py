"""Benchmark: masked examples/s of each masking policy against what a training step consumes.

Pure policy throughput (SpanDoc + rng -> MaskedExample, no tokenisation) on a spans store (default: the
SQuAD dev store if made at --spans, else a synthetic one), compared with --step-examples-per-s, the
rate a training loop eats examples. Default 256/s: a ~1M-parameter T5 at batch 64 runs about 4 steps/s
on 2 CPU cores (a stated figure, not measured here). Target ratio >= 20.

    python bench/collate.py [--spans DIR] [--seconds 2] [--step-examples-per-s 256]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from ner_masking.policies import make_policy
from ner_masking.store import SpanDoc, load_span_store

POLICIES: list[tuple[str, dict]] = [
    ("ssm", {}),
    ("ssm", {"context": "passage", "budget": 128}),
    ("typed_ssm", {"labels": ["DATE"]}),
    ("ssm", {"exclude_labels": ["PERSON"]}),
    ("ssm_all", {}),
    ("span_corruption", {}),
    ("span_corruption", {"max_units": 128}),
    ("mixture", {"weights": {"ssm": 0.8, "span_corruption": 0.2}}),
]


def synthetic_docs(n: int = 2000, seed: int = 0) -> list[SpanDoc]:
    """Documents shaped like SQuAD paragraphs: ~5 sentences of ~25 words, ~11 spans."""
    rng = random.Random(seed)
    labels = ["PERSON", "ORG", "GPE", "DATE", "NORP"]
    docs = []
    for i in range(n):
        text, sentences, spans = "", [], []
        for _ in range(5):
            start = len(text)
            words = [f"word{rng.randrange(1000)}" for _ in range(25)]
            for k in rng.sample(range(25), 2):
                words[k] = f"Entity{rng.randrange(100)}"
            sentence = " ".join(words) + "."
            for k, w in enumerate(words):
                if w.startswith("Entity"):
                    offset = start + len(" ".join(words[:k])) + (1 if k else 0)
                    spans.append((offset, offset + len(w), rng.choice(labels)))
            text += sentence + " "
            sentences.append((start, start + len(sentence)))
        docs.append(SpanDoc(id=f"s{i}", text=text.rstrip(), sentences=sentences, spans=sorted(spans)))
    return docs


def throughput(policy, docs: list[SpanDoc], seconds: float) -> tuple[float, float]:
    """(examples per wall second, examples per CPU second of this process). On a shared machine the
    CPU-time rate is what one free core would give; both are printed."""
    rng = random.Random(0)
    made, i = 0, 0
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        for doc in docs[i : i + 200]:
            made += policy(doc, rng) is not None
        i = (i + 200) % len(docs)
    return made / (time.perf_counter() - wall), made / (time.process_time() - cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spans", type=Path, default=None, help="spans store made by `cbqa ner` (default: synthetic)")
    p.add_argument("--seconds", type=float, default=2.0, help="time per policy")
    p.add_argument("--step-examples-per-s", type=float, default=256.0)
    args = p.parse_args()

    docs = load_span_store(args.spans).docs() if args.spans else synthetic_docs()
    random.Random(0).shuffle(docs)
    print(
        f"docs: {args.spans or 'synthetic'} ({len(docs):,}); training consumes {args.step_examples_per_s:,.0f} examples/s"
    )
    print(f"{'policy':<58} {'ex/s (wall)':>11} {'ratio':>6} {'ex/CPU-s':>9} {'ratio':>6}")
    for name, options in POLICIES:
        wall, cpu = throughput(make_policy(name, **options), docs, args.seconds)
        label = f"{name} {options}" if options else name
        step = args.step_examples_per_s
        print(f"{label:<58} {wall:>11,.0f} {wall / step:>5.0f}x {cpu:>9,.0f} {cpu / step:>5.0f}x")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

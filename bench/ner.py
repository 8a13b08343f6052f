"""Benchmark: words/s of `cbqa ner`'s annotation path against a bare `nlp.pipe` over the same pipeline.

Both sides load the same NER-only pipeline (rule_sentencizer + ner + salient_span_marker) with the same
process count and batch size, and both are timed end to end (pipeline load included); ours also
validates and fingerprints the corpus, converts offsets and writes Arrow shards. Target ratio >= 0.9.

    python bench/ner.py [--corpus FILE] [--docs N] [--processes 1 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from cbqa.core.formats import Document, read_corpus, write_corpus
from ner_masking.annotate import AnnotateConfig, annotate_corpus
from ner_masking.pipeline import DEFAULT_SPACY_MODEL, build_pipeline

SQUAD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "squad_v1.1_dev" / "passages.jsonl"


def generated(n: int) -> list[Document]:
    people, places = ["Marie Curie", "Alan Turing", "Ada Lovelace"], ["Paris", "London", "Vienna", "Oslo"]
    return [
        Document(
            id=f"g{i}",
            text=" ".join(
                f"In {1800 + (i * 7 + j) % 200}, {people[(i + j) % 3]} travelled from {places[j % 4]} to "
                f"{places[(i + j + 1) % 4]} to meet the board of the Royal Society for {j + 2} weeks."
                for j in range(6)
            ),
        )
        for i in range(n)
    ]


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (spaCy's workers): unlike wall time, hardly
    moved by other users of a shared machine."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bare(texts: list[str], model: str, n_process: int, batch_size: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), _cpu()
    nlp = build_pipeline(model)
    for doc in nlp.pipe(texts, n_process=n_process, batch_size=batch_size):
        doc.spans["salient"]  # touch the result like a consumer would
    return time.perf_counter() - start, _cpu() - cpu


def ours(corpus: Path, model: str, n_process: int, batch_size: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        config = AnnotateConfig(spacy_model=model, n_process=n_process, batch_size=batch_size, progress=False)
        start, cpu = time.perf_counter(), _cpu()
        annotate_corpus(corpus, Path(out) / "store", config)
        return time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=SQUAD if SQUAD.exists() else None)
    p.add_argument("--docs", type=int, default=None, help="use the first N documents (default: all)")
    p.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="alternate the two sides this often; best time wins")
    args = p.parse_args()

    docs = read_corpus(args.corpus)[: args.docs] if args.corpus else generated(args.docs or 1000)
    words = sum(len(d.text.split()) for d in docs)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        write_corpus(corpus, docs)
        texts = [d.text for d in docs]
        source = args.corpus or "generated"
        print(f"corpus: {source} ({len(docs):,} docs, {words:,} words); model {args.spacy_model}")
        print(
            f"{'processes':>9}  {'bare nlp.pipe words/s':>22}  {'cbqa ner words/s':>17}  {'ratio':>6}"
            f"  {'bare words/CPU-s':>17}  {'ours words/CPU-s':>17}  {'ratio':>6}"
        )
        for n in args.processes:
            # Alternating and keeping each side's best run damps other load on a shared machine.
            best = {"bare": (float("inf"),) * 2, "ours": (float("inf"),) * 2}
            for _ in range(args.repeats):
                b = bare(texts, args.spacy_model, n, args.batch_size)
                o = ours(corpus, args.spacy_model, n, args.batch_size)
                best = {"bare": tuple(map(min, best["bare"], b)), "ours": tuple(map(min, best["ours"], o))}
            (wb, cb), (wo, co) = best["bare"], best["ours"]
            print(
                f"{n:>9}  {words / wb:>22,.0f}  {words / wo:>17,.0f}  {wb / wo:>6.2f}"
                f"  {words / cb:>17,.0f}  {words / co:>17,.0f}  {cb / co:>6.2f}"
            )
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

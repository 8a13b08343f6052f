"""Benchmark: words/s of `cbqa ner`'s annotation path against a bare `nlp.pipe` over the same pipeline.

Both sides load the same NER-only pipeline (sentencizer + ner + salient_span_marker) with the same
process count and batch size, and both are timed end to end (pipeline load included); ours also
validates and fingerprints the corpus, converts offsets and writes parquet shards. Target ratio >= 0.9.

    PYTHONPATH=src python bench/ner.py [--corpus FILE] [--docs N] [--processes 1 2] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cbqa.data import Document, read_corpus, write_corpus  # noqa: E402
from ner_masking.annotate import AnnotateConfig, annotate_corpus  # noqa: E402
from ner_masking.pipeline import DEFAULT_SPACY_MODEL, build_pipeline  # noqa: E402

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


def bare(texts: list[str], model: str, n_process: int, batch_size: int) -> float:
    start = time.perf_counter()
    nlp = build_pipeline(model)
    for doc in nlp.pipe(texts, n_process=n_process, batch_size=batch_size):
        doc.spans["salient"]  # touch the result like a consumer would
    return time.perf_counter() - start


def ours(corpus: Path, model: str, n_process: int, batch_size: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        config = AnnotateConfig(spacy_model=model, n_process=n_process, batch_size=batch_size, progress=False)
        start = time.perf_counter()
        annotate_corpus(corpus, Path(out) / "store", config)
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=SQUAD if SQUAD.exists() else None)
    p.add_argument("--docs", type=int, default=None, help="use the first N documents (default: all)")
    p.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    docs = read_corpus(args.corpus)[: args.docs] if args.corpus else generated(args.docs or 1000)
    words = sum(len(d.text.split()) for d in docs)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        write_corpus(corpus, docs)
        texts = [d.text for d in docs]
        source = args.corpus or "generated"
        print(f"corpus: {source} ({len(docs):,} docs, {words:,} words); model {args.spacy_model}")
        print(f"{'processes':>9}  {'bare nlp.pipe words/s':>22}  {'cbqa ner words/s':>17}  {'ratio':>6}")
        for n in args.processes:
            t_bare = bare(texts, args.spacy_model, n, args.batch_size)
            t_ours = ours(corpus, args.spacy_model, n, args.batch_size)
            print(f"{n:>9}  {words / t_bare:>22,.0f}  {words / t_ours:>17,.0f}  {t_bare / t_ours:>6.2f}")


if __name__ == "__main__":
    main()

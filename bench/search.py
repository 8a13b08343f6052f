"""Search throughput of our path vs raw FAISS on the same index and queries, and build time per index type.

    python bench/search.py                     # 50k x 384, 1000 queries, all index types
    python bench/search.py --n 200000 --types flat hnsw --threads 8

"ours" is `RetrievalIndex.search_vectors`, the call `cbqa retrieve` makes: FAISS search, its row and score arrays
wrapped in lazy per-query `Hits` views (no Python object per result); "raw" is `index.search` on the very same FAISS
object. The ratio ours/raw in queries per second should be >= 0.95: our wrapper must not cost more than 5% on top of
FAISS. Beside it, "+ids" also reads every hit's passage id from the on-disk passage store, and "+text" makes every
`Hit` (id, title, text read by row): what writing `cbqa retrieve` rows adds. Query encoding is excluded throughout
(the same model call either way). Vectors are synthetic: a mixture of Gaussian clusters on the sphere; the passages
live in a real `PassageStore` (Arrow shards) in a temporary directory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from cbqa.core.shards import shard_name
from retrieval_baseline.evaluate import RetrievedQuestion
from retrieval_baseline.faiss_index import INDEX_TYPES, IndexSpec, build_faiss_index, factory_string
from retrieval_baseline.passage_store import PassageStore, write_passage_shard
from retrieval_baseline.passages import Passage
from retrieval_baseline.retriever import RetrievalIndex, retrieved_row


def synthetic(n: int, dim: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centers[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def passage_store(n: int, directory: Path, shard_size: int = 10_000) -> PassageStore:
    shards = []
    for i, start in enumerate(range(0, n, shard_size)):
        rows = range(start, min(start + shard_size, n))
        write_passage_shard(
            directory / shard_name(i), [Passage(f"doc{r}#0", f"title {r}", f"text of passage {r}") for r in rows]
        )
        shards.append((shard_name(i), len(rows)))
    return PassageStore(directory, shards)


def paired_timings(raw, ours, repeats: int) -> tuple[float, float, float]:
    """(best raw s, best ours s, median of per-round raw/ours time ratios).

    Each round times both, swapping which goes first, so load from other processes on a shared machine hits
    both alike; the median of paired ratios is far steadier than a ratio of two separately taken bests.
    """
    raw(), ours()  # warm-up: first-touch memory, OpenMP thread start
    raw_t, ours_t, ratios = [], [], []
    for i in range(repeats):
        pair = {}
        for name, fn in (("raw", raw), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("raw", raw)):
            t0 = time.perf_counter()
            fn()
            pair[name] = time.perf_counter() - t0
        raw_t.append(pair["raw"])
        ours_t.append(pair["ours"])
        ratios.append(pair["raw"] / pair["ours"])
    return min(raw_t), min(ours_t), statistics.median(ratios)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50_000, help="indexed vectors (default 50000)")
    p.add_argument("--dim", type=int, default=384, help="dimension (default 384, MiniLM's)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--types", nargs="+", choices=INDEX_TYPES, default=list(INDEX_TYPES))
    p.add_argument("--repeats", type=int, default=7, help="timed rounds (q/s: best round; ratio: median of rounds)")
    p.add_argument("--threads", type=int, default=None, help="FAISS OpenMP threads (default: FAISS's choice)")
    p.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None, help="default: GPU when available")
    args = p.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-search-") as work:  # the passage store, removed at the end
        run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> None:
    rng = np.random.default_rng(0)
    db = synthetic(args.n, args.dim, clusters=max(args.n // 500, 8), rng=rng)
    queries = synthetic(args.queries, args.dim, clusters=max(args.n // 500, 8), rng=rng)
    passages = passage_store(args.n, work)
    print(
        f"{args.n} x {args.dim} vectors, {args.queries} queries, k={args.k}, faiss {faiss.__version__}, "
        f"{faiss.omp_get_max_threads()} threads"
    )
    header = (
        f"{'index':<26} {'build s':>8} {'raw q/s':>10} {'ours q/s':>10} {'ours/raw':>9} {'+ids/raw':>9} "
        f"{'+text/raw':>10} {'rows q/s':>9} {'R@10 vs flat':>13}"
    )
    print(header)
    print("-" * len(header))
    exact = None
    for kind in args.types:
        spec = IndexSpec(kind)  # type: ignore[arg-type]  # the defaults `cbqa index` uses
        t0 = time.perf_counter()
        dense = build_faiss_index(db, spec, use_gpu=args.gpu, show_progress=False)
        build_s = time.perf_counter() - t0
        index = RetrievalIndex(passages, dense, manifest={})
        raw = lambda: dense.index.search(queries, args.k)  # noqa: B023 (called within this iteration)
        raw_s, ours_s, ratio = paired_timings(raw, lambda: index.search_vectors(queries, args.k), args.repeats)  # noqa: B023 (called within this iteration)
        _, _, ids_ratio = paired_timings(
            raw, lambda index=index: [h.ids() for h in index.search_vectors(queries, args.k)], args.repeats
        )
        _, _, text_ratio = paired_timings(
            raw, lambda index=index: [list(h) for h in index.search_vectors(queries, args.k)], args.repeats
        )
        t0 = time.perf_counter()
        rows = [
            retrieved_row(RetrievedQuestion(str(i), "", ["passage 7"], h), "dense")
            for i, h in enumerate(index.search_vectors(queries, args.k))
        ]
        rows_qs = len(rows) / (time.perf_counter() - t0)
        _, rows = dense.index.search(queries, args.k)
        if kind == "flat":
            exact = rows
        overlap = (
            "" if exact is None else f"{np.mean([len(set(a) & set(b)) / args.k for a, b in zip(rows, exact)]):.3f}"
        )
        name = f"{kind} ({factory_string(dense.spec, args.n, args.dim)}){' gpu' if dense.on_gpu else ''}"
        print(
            f"{name:<26} {build_s:>8.2f} {args.queries / raw_s:>10.0f} {args.queries / ours_s:>10.0f} "
            f"{ratio:>9.3f} {ids_ratio:>9.3f} {text_ratio:>10.3f} {rows_qs:>9.0f} {overlap:>13}"
        )
    print("ours/raw: median over rounds of raw time / our time for search_vectors (what `cbqa retrieve` calls);")
    print(">= 0.95 means our wrapper costs under 5% on top of raw FAISS search. +ids: also every hit's passage id;")
    print("+text: every Hit (id, title, text read from the passage store). rows q/s: search plus the output rows")
    print("`cbqa retrieve` writes (every Hit, DPR has_answer per passage), one timed pass: end to end but for query")
    print("encoding and the JSON writing. Other q/s columns are each path's best round.")


if __name__ == "__main__":
    main()

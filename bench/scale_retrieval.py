"""The retrieval baseline from 200k to 2M passages: build time, peak memory, load time and memory, queries/s, recall.

    python bench/scale_retrieval.py                                   # 200k and 2M x 384, flat / IVF / IVF-PQ
    python bench/scale_retrieval.py --sizes 20000 200000 --types flat ivf
    python bench/scale_retrieval.py --sizes 2000000 --overlap-only    # `cbqa overlap --corpus` on the 2M corpus

For each size it writes a synthetic corpus (JSONL passages of ~100 words in sentences) and synthetic float16
embeddings (clustered Gaussian vectors on the sphere, one `.npy` per 100k passages: what `cbqa index` writes while
encoding), then, each in a fresh child process so memory is measured alone:

- build: `build_index` over the corpus with the given embeddings (`--passage-words 0`, as for psgs_w100.tsv: scan and
  validate the corpus, write the passage store, fingerprint it, build the FAISS index from the memory-mapped
  embedding shards, save, publish); flat first (keeping the embeddings), IVF and IVF-PQ then reuse them (hard
  links). Reported: wall time, FAISS train and add seconds, peak resident memory over the child's resident memory
  before the call (VmHWM - VmRSS), and the index file size;
- load: `load_index` read and memory-mapped (--mmap), its time and resident memory over the child's before, the time
  of the first 10 queries (a mapped index reads its pages then), and which of the two `load_index` does by default
  (mapped from 1 GiB on the CPU: `faiss_index.auto_mmap`);
- search: queries/s of `RetrievalIndex.search_vectors` (what `cbqa retrieve` calls) batched (all queries at once)
  and single (one query per call), and recall@10 against the flat index's results.

    python bench/scale_retrieval.py --encoding ../shared/data/squad_v1.1_dev/passages.jsonl   # CPU encoding rates

Fresh memory: on a VM whose host takes back the memory a guest frees (this machine's does, within seconds), the
first touch of memory costs up to ~10 s per GB, against ~0.2 s for memory reused at once; so every phase that
allocates GBs (an index's codes, a read index, the page cache of a written file) varies from run to run with the
host's state. Before each build (10 s apart) a fresh child first-touches as much memory as the float32 vectors take (`touch_s`):
the bare cost of that much new memory at that moment, printed beside the build and in the growth table; and the
add phase's seconds spent sizing the index's memory (`allocate_seconds` in the manifest: the flat code buffer, the
reserved IVF lists, where that first touch happens) are printed apart.

The last table gives the growth ratios between the largest and the smallest size. IVF uses the same nlist at every
size (--nlist), so the seconds per added vector compare like with like; training (which grows with nlist) is
reported apart. With --overlap, `cbqa overlap --corpus` runs on each size's corpus (200 test questions), with its
peak resident memory and the size of its on-disk sentence index (built in that run), then again with the index built
(the 200 lookups, after the corpus fingerprint that finds the index). --encoding CORPUS measures passages/s of
the passage encoders on this machine's CPU over the first 100-word passages of a real corpus: the default MiniLM,
and DPR's context encoder architecture (BERT-base, 768-d; random weights, which run as fast as trained ones, with
MiniLM's WordPiece vocabulary, the same uncased BERT vocabulary), for the time estimates of docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cbqa.core.io import remove_tree

SHARD = 100_000
WORDS = 2000  # synthetic vocabulary


def rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class SyntheticEncoder:
    """Stands for the model that made the synthetic embeddings: a name and a dimension; it never encodes."""

    def __init__(self, dim: int) -> None:
        self.name, self.dim, self.normalize = f"synthetic-{dim}", dim, True

    def encode_questions(self, questions):
        raise RuntimeError("the benchmark searches with precomputed query vectors")

    encode_passages = encode_questions


def vocabulary() -> np.ndarray:
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return np.array(["".join(rng.choice(letters, rng.integers(3, 9))) for _ in range(WORDS)])


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int) -> np.ndarray:
    x = centers[rng.integers(0, len(centers), n)] + 0.5 * rng.standard_normal((n, centers.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def prepare(n: int, dim: int, queries: int, root: Path) -> Path:
    """Corpus, embedding shards and queries for `n` passages under root/n (reused when already there)."""
    from retrieval_baseline.embeddings import embedding_shard_name, write_embedding_shard

    d = root / str(n)
    if (d / "done.json").exists():
        return d
    shutil.rmtree(d, ignore_errors=True)
    (d / "embeddings").mkdir(parents=True)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((256, dim)).astype(np.float32)
    vocab = vocabulary()
    words = np.random.default_rng(1).zipf(1.3, size=4 * WORDS) % WORDS  # a skewed word distribution
    with (d / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for j, start in enumerate(range(0, n, SHARD)):
            size = min(SHARD, n - start)
            r = np.random.default_rng([2, j])
            toks = vocab[words[r.integers(0, len(words), (size, 100))]]
            lines = []
            for i in range(size):
                row = toks[i]
                text = ". ".join(" ".join(row[s : s + 14]).capitalize() for s in range(0, 100, 14)) + "."
                lines.append(json.dumps({"id": f"p{start + i}", "title": f"Title {start + i}", "text": text}) + "\n")
            f.writelines(lines)
            write_embedding_shard(
                d / "embeddings" / embedding_shard_name(j),
                clustered(np.random.default_rng([3, j]), centers, size),
                "float16",
            )
    np.save(d / "queries.npy", clustered(np.random.default_rng(4), centers, queries))
    qa = [
        {"id": f"q{i}", "question": f"What is {' '.join(vocab[[i, i + 1, i + 2]])}?", "answers": [str(vocab[i + 7])]}
        for i in range(200)
    ]
    (d / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    (d / "done.json").write_text("{}")
    return d


# ---- children: each measures one thing in a fresh process ---------------------------------------------------------


def child_build(d: Path, kind: str, nlist: int, dim: int) -> dict[str, Any]:
    from retrieval_baseline import IndexSpec, SplitConfig, build_index
    from retrieval_baseline.embeddings import EmbeddingShards
    from retrieval_baseline.faiss_index import auto_mmap

    spec = IndexSpec(kind, nlist=None if kind == "flat" else nlist)  # type: ignore[arg-type]
    src = (
        {"embeddings": EmbeddingShards(sorted((d / "embeddings").glob("shard-*.npy")))}
        if kind == "flat"
        else {"embeddings_from": d / "idx-flat"}
    )
    before = rss_kb()
    t0 = time.perf_counter()
    index = build_index(
        d / "corpus.jsonl",
        d / f"idx-{kind}",
        encoder=SyntheticEncoder(dim),
        spec=spec,
        split=SplitConfig(words=0),
        save_embeddings="float16",
        shard_size=SHARD,
        show_progress=False,
        use_gpu=False,
        **src,
    )
    wall = time.perf_counter() - t0
    m = index.manifest["index"]
    size = (d / f"idx-{kind}" / "index.faiss").stat().st_size
    store = sum(f.stat().st_size for f in (d / f"idx-{kind}" / "passages").glob("*.arrow"))
    return {
        "passages_mb": store / 2**20,
        "wall_s": wall,
        "faiss_s": m["build_seconds"],
        "train_s": m["train_seconds"],
        "add_s": m["add_seconds"],
        "allocate_s": m.get("allocate_seconds", 0.0),
        "peak_over_start_mb": (rss_kb("VmHWM") - before) / 1024,
        "index_mb": size / 2**20,
        "factory": m["factory"],
        "auto_mmap": auto_mmap(d / f"idx-{kind}" / "index.faiss", use_gpu=False),
    }  # what load_index does by default


def child_touch(mb: int) -> dict[str, Any]:
    """Seconds to allocate and first-touch `mb` MB in a new process: the bare cost of fresh memory right now."""
    t0 = time.perf_counter()
    block = np.ones(mb * 2**20 // 8)
    seconds = time.perf_counter() - t0
    del block
    return {"mb": mb, "touch_s": seconds}


def child_load(d: Path, kind: str, dim: int, mmap: bool, k: int, single: int) -> dict[str, Any]:
    from retrieval_baseline import load_index

    queries = np.load(d / "queries.npy")
    before = rss_kb()
    t0 = time.perf_counter()
    index = load_index(d / f"idx-{kind}", encoder=SyntheticEncoder(dim), use_gpu=False, mmap=mmap)
    load_s = time.perf_counter() - t0
    after = rss_kb()
    t0 = time.perf_counter()
    index.search_vectors(queries[:10], k)  # warm-up: with a mapped index, the first search reads the pages in
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = index.search_vectors(queries, k)
    batched = len(queries) / (time.perf_counter() - t0)
    t0, done = time.perf_counter(), 0
    for q in queries[:single]:  # at most `single` queries, and at most ~10 s of them (a flat 2M query reads 3 GB)
        index.search_vectors(q[None, :], k)
        done += 1
        if time.perf_counter() - t0 > 10:
            break
    single_qs = done / (time.perf_counter() - t0)
    np.save(d / f"rows-{kind}{'-mmap' if mmap else ''}.npy", results.rows)
    return {
        "load_s": load_s,
        "rss_after_load_mb": (after - before) / 1024,
        "rss_after_search_mb": (rss_kb() - before) / 1024,
        "first_search_s": first_s,
        "batched_qps": batched,
        "single_qps": single_qs,
    }


def child_overlap(d: Path) -> dict[str, Any]:
    """`cbqa overlap --corpus` twice: the first run builds the on-disk sentence index and labels the questions, the
    second finds the index built (same corpus fingerprint) and only opens it and labels them again."""
    from cbqa.cli import main as cbqa_main

    def overlap() -> float:
        t0 = time.perf_counter()
        try:
            cbqa_main(
                [
                    "overlap",
                    "--train",
                    str(d / "qa.jsonl"),
                    "--test",
                    str(d / "qa.jsonl"),
                    "--corpus",
                    str(d / "corpus.jsonl"),
                    "--out",
                    str(d / "overlap" / "labels.jsonl"),
                ]
            )
        except SystemExit as e:
            if e.code:
                raise
        return time.perf_counter() - t0

    before = rss_kb()
    wall_s = overlap()
    peak = rss_kb("VmHWM")  # (the build's: a rerun reads no more than it did)
    rerun_s = overlap()
    rows = [json.loads(line) for line in (d / "overlap" / "labels.jsonl").read_text().splitlines()]
    files = [f for f in (d / "overlap").rglob("*") if f.is_file()]
    return {
        "wall_s": wall_s,
        "rerun_s": rerun_s,
        "dir_mb": sum(f.stat().st_size for f in files) / 2**20,  # the sentence index on disk, and the labels
        "peak_mb": peak / 1024,
        "peak_over_start_mb": (peak - before) / 1024,
        "answer_in_corpus": sum(r["answer_in_corpus"] for r in rows),
        "questions": len(rows),
    }


def child_encoding(corpus: str, n: int, batch: int, device: str) -> dict[str, Any]:
    import tempfile
    from itertools import islice

    import torch
    from transformers import AutoTokenizer, DPRConfig, DPRContextEncoder, DPRQuestionEncoder

    from cbqa.core.formats.corpus import iter_corpus
    from retrieval_baseline.encoders import EncoderConfig, default_model_path, load_encoder
    from retrieval_baseline.passages import SplitConfig, split_corpus

    passages = list(islice(split_corpus(iter_corpus(corpus), SplitConfig()), n))
    out: dict[str, Any] = {
        "passages": len(passages),
        "batch": batch,
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    with tempfile.TemporaryDirectory() as tmp:
        tok = AutoTokenizer.from_pretrained(default_model_path())
        torch.manual_seed(0)
        cfg = DPRConfig(vocab_size=tok.vocab_size)
        for sub, model in (("ctx_encoder", DPRContextEncoder(cfg)), ("question_encoder", DPRQuestionEncoder(cfg))):
            model.save_pretrained(f"{tmp}/{sub}")
            tok.save_pretrained(f"{tmp}/{sub}")
        out["tokens_per_passage"] = float(
            np.mean([len(tok(p.title, p.text, truncation=True, max_length=256).input_ids) for p in passages])
        )
        for name, spec, count in (
            ("minilm", "default", len(passages)),
            ("dpr_bert_base", f"dpr:{tmp}", len(passages) // 2),
        ):
            enc = load_encoder(EncoderConfig(spec, device=device, batch_size=batch, show_progress=False))
            enc.encode_passages(passages[:batch])  # warm-up
            t0 = time.perf_counter()
            vectors = enc.encode_passages(passages[:count])
            out[name] = {"passages_per_s": count / (time.perf_counter() - t0), "dim": int(vectors.shape[1])}
    return out


def run_child(args: list[str], threads: int | None) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(args)], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", type=int, default=[200_000, 2_000_000])
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--types", nargs="+", choices=("flat", "ivf", "ivfpq"), default=["flat", "ivf", "ivfpq"])
    p.add_argument("--nlist", type=int, default=1024, help="IVF cells, the same at every size (default 1024)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--single", type=int, default=200, help="queries timed one per call (stops after ~10 s)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the children (default: FAISS's)")
    p.add_argument("--work", type=Path, default=Path("/tmp/cbqa-scale-retrieval"))
    p.add_argument("--overlap", action="store_true", help="also run `cbqa overlap --corpus` on each corpus")
    p.add_argument("--overlap-only", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the data and indexes under --work")
    p.add_argument("--encoding", metavar="CORPUS", help="only measure CPU encoding rates on this corpus's passages")
    p.add_argument("--encoding-passages", type=int, default=512)
    p.add_argument("--encoding-device", default="cpu", help="cpu, or cuda on a GPU machine")
    p.add_argument("--encoding-batch", type=int, default=64)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        what, *rest = json.loads(args.child)
        fn = {
            "build": child_build,
            "load": child_load,
            "overlap": child_overlap,
            "encoding": child_encoding,
            "touch": child_touch,
        }[what]
        print(json.dumps(fn(rest[0] if what in ("encoding", "touch") else Path(rest[0]), *rest[1:])))
        return
    if args.encoding:
        print(f"load average at start: {os.getloadavg()}")
        e = run_child(
            ["encoding", args.encoding, args.encoding_passages, args.encoding_batch, args.encoding_device], args.threads
        )
        print(
            f"{e['passages']} passages of {args.encoding} (~{e['tokens_per_passage']:.0f} tokens each with title), "
            f"batch {e['batch']}, {e['torch_threads']} torch threads, device {e['device']}:"
        )
        for name in ("minilm", "dpr_bert_base"):
            rate = e[name]["passages_per_s"]
            print(
                f"  {name:<14} {e[name]['dim']}-d  {rate:7.1f} passages/s  -> 21,015,324 passages (psgs_w100): "
                f"{21_015_324 / rate / 3600:,.0f} hours on this {e['device']}"
            )
        print(f"load average at end: {os.getloadavg()}")
        return

    started = time.perf_counter()
    print(f"load average at start: {os.getloadavg()}")
    results: dict[int, dict[str, Any]] = {}
    for n in args.sizes:
        t0 = time.perf_counter()
        d = prepare(n, args.dim, args.queries, args.work)
        r: dict[str, Any] = {"prepare_s": time.perf_counter() - t0}
        print(
            f"\n== {n:,} passages x {args.dim} (float16 embeddings {n * args.dim * 2 / 2**20:,.0f} MB; data ready in "
            f"{r['prepare_s']:.0f} s) =="
        )
        if not args.overlap_only:
            for kind in args.types if "flat" in args.types else ["flat", *args.types]:
                remove_tree(d / f"idx-{kind}")
                time.sleep(10)  # what the last child freed goes back to the host, as before any build
                touch = run_child(["touch", n * args.dim * 4 // 2**20], args.threads)
                time.sleep(10)  # (and what the touch freed: the build does not start on memory warmed for it)
                b = run_child(["build", str(d), kind, args.nlist, args.dim], args.threads) | {"touch": touch}
                loads = {
                    m: run_child(["load", str(d), kind, args.dim, m, args.k, args.single], args.threads)
                    for m in (False, True)
                }
                rows = np.load(d / f"rows-{kind}.npy")
                flat = np.load(d / "rows-flat.npy")
                recall = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(rows, flat)]))
                r[kind] = {"build": b, "load": loads[False], "mmap": loads[True], "recall": recall}
                print(
                    f"{b['factory']:<16} build {b['wall_s']:6.1f} s (FAISS train {b['train_s']:.1f} s, add {b['add_s']:.1f} s "
                    f"of which allocating the index {b['allocate_s']:.1f} s)"
                    f"  peak +{b['peak_over_start_mb']:,.0f} MB for a {b['index_mb']:,.0f} MB index"
                    f"  | load {loads[False]['load_s']:.2f} s +{loads[False]['rss_after_load_mb']:,.0f} MB"
                    f" (mmap {loads[True]['load_s']:.2f} s +{loads[True]['rss_after_load_mb']:,.0f} MB, first 10 queries "
                    f"{loads[True]['first_search_s']:.2f} s vs {loads[False]['first_search_s']:.2f} s read;"
                    f" default: {'mapped' if b['auto_mmap'] else 'read'})"
                    f"  | {loads[False]['batched_qps']:,.0f} q/s batched, {loads[False]['single_qps']:,.0f} single"
                    f" (mapped {loads[True]['batched_qps']:,.0f} / {loads[True]['single_qps']:,.0f})"
                    f"  | recall@{args.k} vs flat {recall:.3f}"
                    f"  | fresh memory just before: {touch['mb']:,} MB first-touched in {touch['touch_s']:.2f} s"
                )
        if args.overlap or args.overlap_only:
            remove_tree(d / "overlap")
            o = run_child(["overlap", str(d)], args.threads)
            r["overlap"] = o
            print(
                f"cbqa overlap --corpus: {o['wall_s']:.0f} s (rerun with the index built {o['rerun_s']:.1f} s), "
                f"{o['dir_mb']:,.0f} MB on disk, peak resident {o['peak_mb']:,.0f} MB "
                f"(+{o['peak_over_start_mb']:,.0f} MB over start), answer in corpus {o['answer_in_corpus']}/{o['questions']}"
            )
        results[n] = r
    small, big = min(results), max(results)
    if small != big:
        print(f"\n== growth {big:,} / {small:,} passages (x{big / small:.0f}) ==")
        for kind in [k for k in ("flat", "ivf", "ivfpq") if k in results[big] and k in results[small]]:
            a, b = results[small][kind], results[big][kind]
            per_vec = lambda r: r["build"]["add_s"] / (small if r is a else big)  # noqa: B023 (called within this iteration)
            net = lambda r: (r["build"]["add_s"] - r["build"].get("allocate_s", 0.0)) / (small if r is a else big)  # noqa: B023 (called within this iteration)
            bare = b["build"]["touch"]["touch_s"] / a["build"]["touch"]["touch_s"]
            print(
                f"{kind:<6} build wall x{b['build']['wall_s'] / a['build']['wall_s']:.1f} (bare first touch of the vectors' "
                f"memory x{bare:.1f}), FAISS x"
                f"{b['build']['faiss_s'] / max(a['build']['faiss_s'], 1e-9):.1f}, add s/vector x{per_vec(b) / max(per_vec(a), 1e-12):.2f} "
                f"(without allocating the index x{net(b) / max(net(a), 1e-12):.2f}), "
                f"train x{b['build']['train_s'] / max(a['build']['train_s'], 1e-9):.2f}, "
                f"peak - index size {a['build']['peak_over_start_mb'] - a['build']['index_mb']:,.0f} -> "
                f"{b['build']['peak_over_start_mb'] - b['build']['index_mb']:,.0f} MB, load x{b['load']['load_s'] / a['load']['load_s']:.1f}"
            )
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    print(
        f"\nwall {time.perf_counter() - started:.0f} s; load average at end: {os.getloadavg()}; results in {args.work}/results.json"
    )
    if not args.keep:  # the data stay for a rerun; indexes and results go (they are GBs at 2M)
        for n in args.sizes:
            for kind in ("flat", "ivf", "ivfpq"):
                remove_tree(args.work / str(n) / f"idx-{kind}")
            remove_tree(args.work / str(n) / "overlap")


if __name__ == "__main__":
    main()

"""`cbqa index`: split a corpus into passages, encode them shard by shard (resumable; on N machines with --shard i/N,
or as Ray Data actors with --engine ray), build a FAISS index (and optionally BM25); or verify an index (--verify)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from cbqa.core.errors import CbqaError
from cbqa.core.io import clean_stale
from cbqa.core.locks import writer_lock
from retrieval_baseline.bm25 import BM25Config
from retrieval_baseline.encoders import EncoderConfig
from retrieval_baseline.faiss_index import INDEX_TYPES, IndexSpec
from retrieval_baseline.index_build import DEFAULT_SHARD_SIZE, ENCODE_DTYPE, EngineConfig, ShardSpec
from retrieval_baseline.passages import SplitConfig

_D = IndexSpec()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa index",
        description="Split a corpus into ~100-word passages, encode them and write an index directory "
        "(manifest.json, index.faiss, passages/, optional bm25/ and embeddings/). Encoding goes shard by shard into "
        ".OUT.build/ next to OUT: a killed run resumes where it stopped.",
    )
    p.add_argument(
        "--corpus", help="corpus: JSONL {id,title?,text}, .txt, DPR .tsv (psgs_w100.tsv), .parquet, HF dataset dir"
    )
    p.add_argument("--out", help="index directory to write (atomically)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing index directory (and discard an unfinished build with other settings)",
    )
    p.add_argument(
        "--verify",
        metavar="DIR",
        default=None,
        help="instead of building: read index DIR back in full (passages and their fingerprint, embeddings, "
        "FAISS, BM25; with --corpus, that corpus's passages) and report",
    )
    g = p.add_argument_group("shards and engines")
    g.add_argument(
        "--shard-size",
        type=int,
        default=DEFAULT_SHARD_SIZE,
        help=f"documents per shard: the unit of resuming and of work per worker (default {DEFAULT_SHARD_SIZE})",
    )
    g.add_argument(
        "--shard",
        default=None,
        metavar="i/N",
        help="encode only the shards j with j %% N == i (N machines sharing the storage of --out), then stop; "
        "the same command without --shard then builds the index",
    )
    g.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: Ray Data actors (one per GPU where the cluster has GPUs)",
    )
    g.add_argument(
        "--ray-address", default=None, help="join this Ray cluster (auto, ray://head:10001) instead of a local Ray"
    )
    g.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per GPU, else 1)")
    g = p.add_argument_group("passages")
    g.add_argument(
        "--passage-words", type=int, default=100, help="words per passage; 0 keeps documents whole (default 100)"
    )
    g.add_argument(
        "--passage-stride", type=int, default=None, help="words between passage starts (default: = words, no overlap)"
    )
    g = p.add_argument_group("encoder")
    g.add_argument(
        "--encoder",
        default="default",
        help="sentence-transformers name or dir, 'default' (offline all-MiniLM-L6-v2), or dpr:Q_ENC,CTX_ENC / dpr:DIR",
    )
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--max-length", type=int, default=256, help="max tokens per passage")
    g.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="L2-normalise embeddings (cosine); default: yes for sentence-transformers, no for DPR",
    )
    g.add_argument(
        "--save-embeddings",
        choices=("float16", "float32"),
        default=None,
        help="also store the embeddings (float16 halves the size) for rebuilding other index types",
    )
    g.add_argument(
        "--embeddings-from",
        default=None,
        metavar="DIR",
        help="reuse embeddings stored in another index dir (same encoder and passages) instead of encoding",
    )
    g = p.add_argument_group("FAISS index")
    g.add_argument("--index-type", choices=INDEX_TYPES, default="flat")
    g.add_argument("--metric", choices=("ip", "l2"), default="ip", help="inner product (cosine when normalised) or L2")
    g.add_argument("--nlist", type=int, default=None, help="IVF cells (default min(4*sqrt(n), n/39))")
    g.add_argument("--nprobe", type=int, default=_D.nprobe, help=f"IVF cells searched per query (default {_D.nprobe})")
    g.add_argument("--hnsw-m", type=int, default=_D.hnsw_m, help=f"HNSW links per node (default {_D.hnsw_m})")
    g.add_argument("--ef-construction", type=int, default=_D.ef_construction)
    g.add_argument("--ef-search", type=int, default=_D.ef_search, help=f"HNSW search breadth (default {_D.ef_search})")
    g.add_argument(
        "--pq-m", type=int, default=None, help="PQ sub-quantizers, must divide the dimension (default dim/8)"
    )
    g.add_argument("--pq-nbits", type=int, default=_D.pq_nbits, help=f"bits per PQ code (default {_D.pq_nbits})")
    g.add_argument(
        "--gpu",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="build on GPU (default: when faiss-gpu sees a GPU; HNSW is CPU-only)",
    )
    g.add_argument(
        "--threads",
        type=int,
        default=None,
        help="FAISS CPU threads (default: all cores; 1 can be faster on a busy shared machine)",
    )
    g = p.add_argument_group("BM25")
    g.add_argument("--bm25", action="store_true", help="also build a BM25 index (bm25s) for bm25 / hybrid retrieval")
    g.add_argument("--bm25-k1", type=float, default=BM25Config.k1)
    g.add_argument("--bm25-b", type=float, default=BM25Config.b)
    g.add_argument(
        "--bm25-stemmer", default="none", help="'none' or a PyStemmer language, e.g. english (needs PyStemmer)"
    )
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    if args.verify:
        return _verify(args.verify, args.corpus)
    if not args.corpus or not args.out:
        raise CbqaError("--corpus and --out are required (or --verify DIR)")
    from retrieval_baseline.index_build import encode_corpus  # heavy imports only after --help / arg errors

    spec = IndexSpec(
        type=args.index_type,
        metric=args.metric,
        nlist=args.nlist,
        nprobe=args.nprobe,
        hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction,
        ef_search=args.ef_search,
        pq_m=args.pq_m,
        pq_nbits=args.pq_nbits,
    )
    encoder = EncoderConfig(
        name=args.encoder,
        device=args.device,
        batch_size=args.batch_size,
        normalize=args.normalize,
        max_length=args.max_length,
    )
    bm25 = BM25Config(k1=args.bm25_k1, b=args.bm25_b, stemmer=args.bm25_stemmer) if args.bm25 else False
    split = SplitConfig(args.passage_words, args.passage_stride)
    engine = EngineConfig(args.engine, args.ray_address, args.workers)
    if args.shard:
        shard = ShardSpec.parse(args.shard)
        if args.embeddings_from:
            raise CbqaError("--shard encodes; --embeddings-from reuses embeddings: choose one")
        t0 = time.perf_counter()
        _, report, _ = encode_corpus(
            args.corpus, args.out, encoder, split, ENCODE_DTYPE, args.shard_size, shard, engine, args.overwrite
        )
        mine = [j for j in range(report.shards) if shard.owns(j)]
        print(
            f"shard {shard}: encoded {report.this_run} shards in {time.perf_counter() - t0:.1f} s "
            f"({len([j for j in mine if j in set(report.done)])} of its {len(mine)} done; {len(report.done)} of "
            f"{report.shards} in {report.work})"
        )
        print("when every machine has finished, run the same command without --shard to build the index")
        return 0
    # One writer per index directory (a second `cbqa index` into it stops at once, naming the first).
    with writer_lock(args.out, "cbqa index"):
        return _build(args, spec, encoder, split, bm25, engine)


def _build(args: argparse.Namespace, spec, encoder, split, bm25, engine) -> int:
    from retrieval_baseline.index_build import build_index

    if not args.overwrite and (Path(args.out) / "manifest.json").exists():
        # A rerun of the same command (e.g. after a kill just after publishing) finds its index done.
        diffs = _differences(Path(args.out), args.corpus, spec, encoder, split, bm25, args.save_embeddings)
        if not diffs:
            clean_stale(args.out)  # what a run killed before this one left next to it
            print(f"{args.out} is up to date (same corpus, passages, encoder and index settings); nothing to do")
            return 0
        raise CbqaError(
            f"{args.out} holds an index built differently ({'; '.join(diffs)}); "
            "pass --overwrite to replace it or choose another --out"
        )
    t0 = time.perf_counter()
    index = build_index(
        args.corpus,
        args.out,
        encoder=encoder,
        spec=spec,
        split=split,
        bm25=bm25,
        embeddings_from=args.embeddings_from,
        save_embeddings=args.save_embeddings,
        overwrite=args.overwrite,
        use_gpu=args.gpu,
        shard_size=args.shard_size,
        engine=engine,
    )
    m = index.manifest
    print(
        f"indexed {m['count']} passages ({m['encoder']['name']}, {m['dimension']}-d, {m['index']['factory']} "
        f"on {m['index']['built_on']}{', + BM25' if m['bm25'] else ''}) in {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"wrote {args.out}/ (manifest.json, index.faiss, passages/ ({len(m['passages']['shards'])} shards)"
        f"{', bm25/' if m['bm25'] else ''}{', embeddings/' if m['embeddings'] else ''})"
    )
    return 0


def _verify(directory: str, corpus: str | None) -> int:
    from retrieval_baseline.index_dir import verify_index

    t0 = time.perf_counter()
    report = verify_index(directory, corpus)
    parts = [
        f"{report['passages']} passages in {report['passage_shards']} shards match the manifest's fingerprint",
        f"FAISS {report['faiss']['ntotal']} x {report['faiss']['dim']}",
    ]
    if "embeddings" in report:
        parts.append(f"embeddings {report['embeddings']['rows']} rows ({report['embeddings']['dtype']})")
    if "bm25" in report:
        parts.append(f"BM25 {report['bm25']} passages")
    if "corpus" in report:
        parts.append(f"{corpus} gives the same passages")
    print(f"{directory}: OK ({'; '.join(parts)}) in {time.perf_counter() - t0:.1f} s")
    return 0


def _differences(
    out: Path,
    corpus: str,
    spec: IndexSpec,
    encoder: EncoderConfig,
    split: SplitConfig,
    bm25: BM25Config | bool,
    save_embeddings: str | None,
) -> list[str]:
    """What this command would build differently from the index already in `out` (what its manifest records)."""
    from cbqa.core.io import fingerprint
    from retrieval_baseline.encoders import canonical_name
    from retrieval_baseline.faiss_index import resolved
    from retrieval_baseline.index_dir import read_manifest

    m = read_manifest(out)
    name = canonical_name(encoder.name)
    normalize = encoder.normalize if encoder.normalize is not None else not name.startswith("dpr:")
    want = {
        "corpus": fingerprint(corpus) if Path(corpus).exists() else None,
        "passages": asdict(split),
        "encoder": name,
        "normalize": normalize,
        "metric": spec.metric,
        "index": [spec.type, resolved(spec, m.count, m.dimension).params()],
        "bm25": asdict(bm25) if isinstance(bm25, BM25Config) else None,
        "embeddings": save_embeddings,
    }
    have = {
        "corpus": m.corpus.fingerprint,
        "passages": m.corpus.split.to_dict(),
        "encoder": m.encoder.name,
        "normalize": m.encoder.normalize,
        "metric": m.metric,
        "index": [m.index.type, m.index.params],
        "bm25": m.bm25,
        "embeddings": m.embeddings.dtype if m.embeddings else None,
    }
    return [f"{k}: index has {have[k]!r}, this command wants {want[k]!r}" for k in want if have[k] != want[k]]

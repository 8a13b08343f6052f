"""`cbqa retrieve`: top-k passages per question from an index directory (dense, BM25 or hybrid)."""

from __future__ import annotations

import argparse
import time

from retrieval_baseline.evaluate import evaluate, recall_table


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa retrieve",
        description="Retrieve the top-k passages for each question. Writes JSONL, one row per question: "
        "{id, question, answers, retriever, passages: [{id, title, text, score, has_answer}]}.",
    )
    p.add_argument("--index", required=True, help="index directory from `cbqa index`")
    p.add_argument(
        "--questions",
        required=True,
        help="QA file (our JSONL, NQ-open JSONL, DPR .csv/.tsv, TriviaQA/WebQuestions .json)",
    )
    p.add_argument("--split", default=None, help="keep only questions with this `split` value (e.g. test)")
    p.add_argument(
        "--retriever",
        choices=("dense", "bm25", "hybrid"),
        default="dense",
        help="dense (FAISS), bm25, or hybrid (reciprocal rank fusion, k=60, of both)",
    )
    p.add_argument("--k", type=int, default=100, help="passages per question (default 100)")
    p.add_argument("--out", required=True, help="output JSONL (written atomically)")
    p.add_argument("--encoder", default=None, help="query encoder; must match the index's (default: the manifest's)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--batch-size", type=int, default=64, help="encoder batch size")
    p.add_argument("--nprobe", type=int, default=None, help="override the IVF nprobe stored in the manifest")
    p.add_argument("--ef-search", type=int, default=None, help="override the HNSW efSearch stored in the manifest")
    p.add_argument(
        "--fusion-depth", type=int, default=100, help="hybrid: fuse this many hits from each side (default 100)"
    )
    p.add_argument(
        "--gpu", action=argparse.BooleanOptionalAction, default=None, help="search on GPU (default: when available)"
    )
    p.add_argument(
        "--mmap",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="memory-map the FAISS index instead of reading it (no load time; pages are read as searched); "
        "default: mapped when the index file is 1 GiB or more and searched on the CPU",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="FAISS CPU threads (default: all cores; 1 can be faster on a busy shared machine)",
    )
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    from rich.console import Console

    from cbqa.core.errors import CbqaError
    from cbqa.core.formats import read_qa
    from cbqa.core.formats.jsonl import write_jsonl
    from retrieval_baseline.encoders import EncoderConfig
    from retrieval_baseline.index_dir import load_index, read_manifest
    from retrieval_baseline.retriever import retrieve_examples, retrieved_row

    if args.k < 1:
        raise CbqaError(f"--k must be >= 1, got {args.k}")
    examples = read_qa(args.questions, split=args.split)
    stored = read_manifest(args.index).encoder
    name, normalize = args.encoder or stored.name, stored.normalize
    encoder = EncoderConfig(name=name, device=args.device, batch_size=args.batch_size, normalize=normalize)
    index = load_index(args.index, encoder=encoder, use_gpu=args.gpu, mmap=args.mmap)
    index.dense.set_search_params(nprobe=args.nprobe, ef_search=args.ef_search)
    t0 = time.perf_counter()
    retrieved = retrieve_examples(index, examples, args.k, args.retriever, fusion_depth=args.fusion_depth)
    seconds = time.perf_counter() - t0
    write_jsonl(args.out, (retrieved_row(q, args.retriever) for q in retrieved))
    Console().print(recall_table([evaluate(args.retriever, retrieved)]))
    print(
        f"retrieved top-{args.k} ({args.retriever}) for {len(examples)} questions in {seconds:.1f} s; wrote {args.out}"
    )
    return 0

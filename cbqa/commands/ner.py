"""`cbqa ner`: annotate a corpus with spaCy salient spans into a resumable spans store."""

from __future__ import annotations

import argparse
from pathlib import Path

from ner_masking.annotate import AnnotateConfig, annotate_corpus
from ner_masking.labels import DEFAULT_LABELS, LABEL_GROUPS, expand_labels
from ner_masking.pipeline import DEFAULT_SPACY_MODEL, PIECE_CHARS
from ner_masking.store import load_span_store


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa ner",
        description="Annotate a corpus with salient spans (named entities and dates) using spaCy. "
        "Writes memory-mappable Arrow shards and manifest.json to --out; re-running the same command resumes an "
        "interrupted run from its finished shards. --engine ray runs the same pipeline as Ray Data actors "
        "(a local Ray, or a cluster with --ray-address).",
    )
    p.add_argument(
        "--corpus",
        required=True,
        type=Path,
        help="corpus: JSONL {id, title?, text}, .txt, DPR passages .tsv, .parquet, or an HF dataset dir",
    )
    p.add_argument("--out", required=True, type=Path, help="spans store directory")
    p.add_argument(
        "--spacy-model", default=DEFAULT_SPACY_MODEL, help="spaCy pipeline name or path (default: %(default)s)"
    )
    p.add_argument(
        "--labels",
        nargs="+",
        default=["default"],
        metavar="LABEL",
        help=f"entity labels to keep; groups {', '.join(LABEL_GROUPS)} expand (default: {' '.join(DEFAULT_LABELS)})",
    )
    p.add_argument("--merge-adjacent", action="store_true", help="merge salient spans with no token between them")
    p.add_argument(
        "--keep-cross-sentence",
        action="store_true",
        help="keep spans that cross a sentence boundary (dropped by default)",
    )
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: spaCy's nlp.pipe with --n-process processes; ray: Ray Data spaCy actors (default: %(default)s)",
    )
    p.add_argument("--ray-address", help="join this Ray cluster (e.g. auto, ray://head:10001) instead of starting one")
    p.add_argument(
        "--n-process", type=int, default=1, help="spaCy worker processes (local) or actors (ray) (default: %(default)s)"
    )
    p.add_argument("--batch-size", type=int, default=64, help="documents per nlp.pipe batch (default: %(default)s)")
    p.add_argument(
        "--shard-size",
        type=int,
        default=1000,
        help="documents per shard, the unit of resumption and of work per actor (default: %(default)s; "
        "10000 for corpora of millions)",
    )
    p.add_argument(
        "--piece-chars",
        type=int,
        default=PIECE_CHARS,
        help="documents longer than this are annotated in pieces cut at sentence starts (default: %(default)s)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="rebuild a store made with other settings or corpus (beside it; swapped in when complete)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    config = AnnotateConfig(
        spacy_model=args.spacy_model,
        labels=expand_labels(args.labels),
        merge_adjacent=args.merge_adjacent,
        drop_cross_sentence=not args.keep_cross_sentence,
        n_process=args.n_process,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        piece_chars=args.piece_chars,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        engine=args.engine,
        ray_address=args.ray_address,
    )
    out = annotate_corpus(args.corpus, args.out, config)
    _report(out)
    return 0


def _report(out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    m = load_span_store(out).manifest
    table = Table(title="salient spans per label", caption=f"{m['docs']:,} docs, {m['spans']:,} spans")
    table.add_column("label")
    table.add_column("spans", justify="right")
    table.add_column("per doc", justify="right")
    for label, n in m["label_counts"].items():
        table.add_row(label, f"{n:,}", f"{n / max(m['docs'], 1):.2f}")
    console = Console()
    console.print(table)
    if m["labels_not_in_pipeline"]:
        console.print(f"[yellow]labels the pipeline never predicts: {', '.join(m['labels_not_in_pipeline'])}")
    rate = f", last run {m['docs_per_s_last_run']:,.1f} docs/s" if "docs_per_s_last_run" in m else ""
    console.print(
        f"pipeline {m['pipeline']['name']} {m['pipeline']['version']}; wall time {m['wall_time_s']:.1f} s "
        f"over {m['runs']} run(s){rate}"
    )
    console.print(f"wrote {len(m['shards'])} shard(s) and manifest.json to {out}")

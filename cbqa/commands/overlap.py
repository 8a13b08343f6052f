"""`cbqa overlap`: label each test question by test-train overlap (Lewis et al. 2021), or convert their
released labels, and optionally compare with gold labels."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from cbqa.core.errors import CbqaError
from cbqa.core.formats.corpus import iter_corpus
from cbqa.core.formats.jsonl import write_json, write_jsonl
from cbqa.core.formats.qa import read_qa
from cbqa.overlap.corpus_overlap import (
    CorpusIndex,
    corpus_index_source,
    corpus_sentences,
    default_corpus_index_dir,
    open_or_build_corpus_index,
    store_sentences,
)
from cbqa.overlap.gold_labels import compare_with_gold, read_gold_labels
from cbqa.overlap.labeller import DEFAULT_THRESHOLDS, OverlapConfig, label_overlap
from cbqa.overlap.released_labels import released_overlap_rows
from cbqa.overlap.report import comparison_table, overlap_summary, overlap_table


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa overlap",
        description="Label test questions by test-train overlap (answer overlap; question overlap: a paraphrase among "
        "the training questions that share a gold answer, by dense or TF-IDF similarity; knowledge overlap with a "
        "corpus), or convert Lewis et al.'s released labels.",
    )
    p.add_argument("--test", required=True, help="test QA file (any format read_qa reads)")
    p.add_argument("--test-split", help="keep only test rows with this `split` (e.g. test)")
    p.add_argument("--train", help="training QA file")
    p.add_argument("--train-split", help="keep only training rows with this `split` (e.g. train)")
    p.add_argument("--corpus", help="pretraining corpus: also label whether gold answers occur in it")
    p.add_argument(
        "--spans",
        metavar="DIR",
        help="a spans store of that corpus (`cbqa ner`): take its sentences instead of splitting the text "
        "(with --corpus, the store must have been made from that corpus)",
    )
    p.add_argument(
        "--corpus-index",
        metavar="DIR",
        help="on-disk index of the corpus's sentences (built there once in a streaming pass, reused while the "
        "corpus and sentence source are unchanged; the app reads it); default: corpus_index/ next to --out",
    )
    p.add_argument(
        "--method",
        choices=["tfidf", "dense", "both"],
        default="dense",
        help="question similarity (default dense: MiniLM sentence embeddings); with both, a question "
        "overlaps if either method says so",
    )
    p.add_argument(
        "--threshold",
        type=float,
        help=f"cosine threshold for question overlap (defaults, chosen once at max F1 on labelled "
        f"paraphrases, docs/overlap.md: {DEFAULT_THRESHOLDS})",
    )
    p.add_argument("--tfidf-threshold", type=float, help="threshold for tfidf when --method both")
    p.add_argument("--dense-threshold", type=float, help="threshold for dense when --method both")
    p.add_argument(
        "--require-shared-answer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="only training questions sharing a normalised gold answer can make a question overlap, as in "
        "Lewis et al.'s labels (default; so question overlap implies answer overlap); "
        "--no-require-shared-answer compares with every training question",
    )
    p.add_argument("--k", type=int, default=3, help="nearest training questions kept per method (default 3)")
    p.add_argument("--model", help="sentence-transformers model name or path (default: offline MiniLM)")
    p.add_argument(
        "--released-labels",
        metavar="ANNOT.jsonl",
        help="instead of computing, convert Lewis et al.'s labels, joined by row order with --test",
    )
    p.add_argument(
        "--gold-labels",
        metavar="FILE",
        help="compare the labels with gold rows {id, labels|category} (e.g. overlap_gold.jsonl)",
    )
    p.add_argument("--comparison-json", metavar="OUT", help="write the gold comparison as JSON")
    p.add_argument("--summary-json", metavar="OUT", help="write the label counts as JSON")
    p.add_argument("--out", required=True, help="overlap labels JSONL, one row per test question")
    return p


def _config(args: argparse.Namespace) -> OverlapConfig:
    methods = ("tfidf", "dense") if args.method == "both" else (args.method,)
    thresholds = dict(DEFAULT_THRESHOLDS)
    if args.threshold is not None:
        if len(methods) > 1:
            raise CbqaError(
                "--threshold is ambiguous with --method both (the scales differ); "
                "use --tfidf-threshold and --dense-threshold"
            )
        thresholds[methods[0]] = args.threshold
    if args.tfidf_threshold is not None:
        thresholds["tfidf"] = args.tfidf_threshold
    if args.dense_threshold is not None:
        thresholds["dense"] = args.dense_threshold
    return OverlapConfig(
        methods=methods,
        thresholds=thresholds,
        require_shared_answer=args.require_shared_answer,
        k=args.k,
        model=args.model,
    )


def _corpus_index(corpus: str | None, spans: str | None, directory: Path, console: Console) -> CorpusIndex:
    """The on-disk sentence index of the corpus (or of the spans store's sentences), built once and reused."""
    if spans:
        from ner_masking.store import load_span_store

        store = load_span_store(spans, corpus_path=corpus)
        source = corpus_index_source(store=store)
        make = lambda: store_sentences(store)
    else:
        source = corpus_index_source(corpus)
        make = lambda: corpus_sentences(iter_corpus(corpus))
    index, built = open_or_build_corpus_index(directory, source, make_docs=make, show_progress=True)
    console.print(
        f"corpus: {len(index.doc_ids)} documents, {len(index)} sentences "
        f"({'indexed into' if built else 'index reused from'} {directory})"
    )
    return index


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    start = time.perf_counter()
    test = read_qa(args.test, args.test_split)
    if args.released_labels:
        if args.train or args.corpus or args.spans:
            raise CbqaError("--released-labels converts existing labels; it takes no --train, --corpus or --spans")
        rows = released_overlap_rows(args.released_labels, test, args.test)
    else:
        if not args.train:
            raise CbqaError("--train is required (or --released-labels to convert released labels)")
        config = _config(args)
        train = read_qa(args.train, args.train_split)
        directory = Path(args.corpus_index) if args.corpus_index else default_corpus_index_dir(args.out)
        corpus = _corpus_index(args.corpus, args.spans, directory, console) if args.corpus or args.spans else None
        with console.status(f"labelling {len(test)} test questions against {len(train)} training questions ..."):
            rows = label_overlap(train, test, config, corpus)
    write_jsonl(args.out, rows)
    summary = overlap_summary(rows)
    Console().print(overlap_table(summary))
    if args.summary_json:
        write_json(args.summary_json, summary)
    if args.gold_labels:
        comparison = compare_with_gold(rows, read_gold_labels(args.gold_labels))
        _print_comparison(comparison)
        if args.comparison_json:
            write_json(args.comparison_json, comparison.to_json())
    console.print(f"wrote {len(rows)} rows to {args.out} in {time.perf_counter() - start:.1f}s")
    for extra in (args.summary_json, args.comparison_json if args.gold_labels else None):
        if extra:
            console.print(f"wrote {extra}")
    return 0


def _print_comparison(c) -> None:
    out = Console()
    out.print(comparison_table(c))
    acc = c.category_accuracy
    out.print(
        f"category accuracy: {'-' if acc is None else f'{100 * acc:.1f}%'}"
        f"  (joined {c.n_joined}; gold-only {c.n_gold_only}; computed-only {c.n_computed_only})"
    )
    for name, b in (("question overlap", c.question_overlap), ("answer overlap", c.answer_overlap)):
        if b.n:
            p = "-" if b.precision is None else f"{100 * b.precision:.1f}%"
            r = "-" if b.recall is None else f"{100 * b.recall:.1f}%"
            out.print(f"{name}: precision {p}  recall {r}  (tp {b.tp} fp {b.fp} fn {b.fn} tn {b.tn}, n {b.n})")

"""Annotate a corpus with salient spans into a resumable, sharded spans store (see store.py)."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.data.corpus import Document, iter_corpus
from cbqa.data.jsonl import write_json
from cbqa.errors import CbqaError
from ner_masking.component import DEFAULT_SPANS_KEY
from ner_masking.labels import DEFAULT_LABELS
from ner_masking.pipeline import DEFAULT_SPACY_MODEL, build_pipeline, ner_labels, pipeline_info
from cbqa.io import fingerprint
from ner_masking.store import MANIFEST, STORE_FORMAT, SpanDoc, read_manifest, shard_name, write_shard


# Options that change what a store holds: a store is resumed or reused only when they match. The rest
# (processes, batch size) change speed, not output.
IDENTITY_OPTIONS = ("merge_adjacent", "drop_cross_sentence", "shard_size")


@dataclass(frozen=True)
class AnnotateConfig:
    spacy_model: str = DEFAULT_SPACY_MODEL
    labels: tuple[str, ...] = DEFAULT_LABELS
    merge_adjacent: bool = False
    drop_cross_sentence: bool = True
    n_process: int = 1
    batch_size: int = 64
    shard_size: int = 1000
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.labels:
            raise CbqaError("no entity labels selected")
        for name in ("n_process", "batch_size", "shard_size"):
            if getattr(self, name) < 1:
                raise CbqaError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class _CorpusInfo:
    path: str
    fingerprint: str
    docs: int
    max_chars: int


def _scan_corpus(path: Path) -> _CorpusInfo:
    """Validate the whole corpus before any work (bad input fails before a shard is written)."""
    n, longest = 0, 0
    for doc in iter_corpus(path):
        n += 1
        longest = max(longest, len(doc.text))
    return _CorpusInfo(str(path), fingerprint(path), n, longest)


def doc_to_span_doc(doc: Any, doc_id: str, title: str = "", spans_key: str = DEFAULT_SPANS_KEY) -> SpanDoc:
    """Character offsets of a processed spaCy Doc; sentences trimmed of surrounding whitespace."""
    text = doc.text
    sentences: list[tuple[int, int]] = []
    for sent in doc.sents:
        start, end = sent.start_char, sent.end_char
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            sentences.append((start, end))
    spans = [(s.start_char, s.end_char, s.label_) for s in doc.spans[spans_key]] if spans_key in doc.spans else []
    return SpanDoc(id=doc_id, text=text, sentences=sentences, spans=spans, title=title)


def _identity(config: AnnotateConfig, pipeline: dict[str, Any], corpus: _CorpusInfo) -> dict[str, Any]:
    return {
        "pipeline": {"name": pipeline["name"], "version": pipeline["version"], "components": pipeline["components"]},
        "labels": list(config.labels),
        "options": {k: getattr(config, k) for k in IDENTITY_OPTIONS},
        "corpus_fingerprint": corpus.fingerprint,
    }


def _identity_of(manifest: dict[str, Any]) -> dict[str, Any]:
    p = manifest["pipeline"]
    return {
        "pipeline": {"name": p["name"], "version": p["version"], "components": p["components"]},
        "labels": manifest["labels"],
        "options": manifest["options"],
        "corpus_fingerprint": manifest["corpus"]["fingerprint"],
    }


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"{k}: store has {old.get(k)!r}, this run wants {new[k]!r}" for k in new if old.get(k) != new[k]]


def _clear_store(out_dir: Path) -> None:
    for path in [*out_dir.glob("shard-*.parquet"), *out_dir.glob(".shard-*.tmp"), out_dir / MANIFEST]:
        path.unlink(missing_ok=True)


def _shard_stats(docs: list[SpanDoc], index: int) -> dict[str, Any]:
    counts = Counter(label for d in docs for _, _, label in d.spans)
    return {
        "file": shard_name(index),
        "docs": len(docs),
        "spans": sum(counts.values()),
        "label_counts": dict(sorted(counts.items())),
    }


def _new_manifest(
    config: AnnotateConfig, pipeline: dict[str, Any], corpus: _CorpusInfo, labels_known: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "format": STORE_FORMAT,
        "complete": False,
        "pipeline": pipeline,
        "labels": list(config.labels),
        "labels_not_in_pipeline": [lab for lab in config.labels if labels_known and lab not in labels_known],
        "options": {k: getattr(config, k) for k in IDENTITY_OPTIONS},
        "text_field": "text (the corpus document's text; the title is stored but not annotated)",
        "offsets": "character (code point) offsets into text, end exclusive",
        "corpus": {"path": corpus.path, "fingerprint": corpus.fingerprint, "docs": corpus.docs},
        "shards": [],
        "docs": 0,
        "spans": 0,
        "label_counts": {},
        "run": {"n_process": config.n_process, "batch_size": config.batch_size},
        "wall_time_s": 0.0,
        "runs": 0,
    }


def _finish_manifest(manifest: dict[str, Any]) -> None:
    totals: Counter[str] = Counter()
    for shard in manifest["shards"]:
        totals.update(shard["label_counts"])
    manifest["docs"] = sum(s["docs"] for s in manifest["shards"])
    manifest["spans"] = sum(totals.values())
    manifest["label_counts"] = dict(totals.most_common())


def _prepare_store(
    out_dir: Path, config: AnnotateConfig, identity: dict[str, Any], fresh: dict[str, Any]
) -> dict[str, Any]:
    """Return the manifest to continue from: a fresh one, or the existing one when it matches."""
    if out_dir.exists() and not out_dir.is_dir():
        raise CbqaError(f"{out_dir}: exists and is not a directory")
    old = read_manifest(out_dir) if out_dir.exists() else None
    if old is not None and not config.overwrite:
        diffs = _differences(_identity_of(old), identity)
        if diffs:
            raise CbqaError(
                f"{out_dir}: holds a spans store made differently ({'; '.join(diffs)}); "
                "pass --overwrite to rebuild it or choose another --out"
            )
        done = [s for s in old["shards"] if (out_dir / s["file"]).exists()]
        # A shard deleted from a finished store is simply annotated again.
        return {**old, "shards": done, "complete": old["complete"] and len(done) == len(old["shards"])}
    if old is not None:
        _clear_store(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return fresh


def _pending(corpus_path: Path, shard_size: int, done: set[int]) -> Iterator[tuple[str, tuple[int, Document]]]:
    for i, doc in enumerate(iter_corpus(corpus_path)):
        shard = i // shard_size
        if shard not in done:
            yield doc.text, (shard, doc)


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} docs/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def annotate_corpus(corpus_path: str | Path, out_dir: str | Path, config: AnnotateConfig | None = None) -> Path:
    """Annotate `corpus_path` into the store `out_dir`, resuming finished shards; returns `out_dir`."""
    config = config or AnnotateConfig()
    corpus_path, out_dir = Path(corpus_path), Path(out_dir)
    corpus = _scan_corpus(corpus_path)
    nlp = build_pipeline(config.spacy_model, config.labels, config.merge_adjacent, config.drop_cross_sentence)
    nlp.max_length = max(nlp.max_length, corpus.max_chars + 1)
    pipeline = pipeline_info(nlp, config.spacy_model)
    identity = _identity(config, pipeline, corpus)
    manifest = _prepare_store(out_dir, config, identity, _new_manifest(config, pipeline, corpus, ner_labels(nlp)))
    if manifest["complete"]:
        return out_dir  # same corpus, pipeline and options: nothing to do
    manifest["corpus"]["path"] = corpus.path
    manifest["runs"] += 1  # counted at the start, so an interrupted run shows in the total
    write_json(out_dir / MANIFEST, manifest)

    n_shards = -(-corpus.docs // config.shard_size)
    done = {int(s["file"][len("shard-") : -len(".parquet")]) for s in manifest["shards"]}
    todo_docs = sum(min(config.shard_size, corpus.docs - i * config.shard_size) for i in range(n_shards) if i not in done)
    started, base_wall, seen = time.perf_counter(), float(manifest["wall_time_s"]), 0
    buffer: list[SpanDoc] = []
    with _progress(config.progress) as bar:
        task = bar.add_task("cbqa ner", total=todo_docs, rate="-")
        # Plain texts go to nlp.pipe and the (shard, document) contexts stay here, zipped back in order (pipe keeps
        # it). spaCy's as_tuples=True would instead tokenize every text in this process and ship the contexts to the
        # workers with each Doc, which cost ~20% of the throughput with 2 processes (bench/ner.py).
        to_texts, to_contexts = itertools.tee(_pending(corpus_path, config.shard_size, done))
        stream = zip(
            nlp.pipe((text for text, _ in to_texts), n_process=config.n_process, batch_size=config.batch_size),
            (context for _, context in to_contexts),
            strict=True,
        )
        for processed, (shard, doc) in stream:
            buffer.append(doc_to_span_doc(processed, doc.id, doc.title))
            seen += 1
            bar.update(task, advance=1, rate=f"{seen / max(time.perf_counter() - started, 1e-9):,.0f}")
            if len(buffer) == min(config.shard_size, corpus.docs - shard * config.shard_size):
                write_shard(out_dir / shard_name(shard), buffer)
                manifest["shards"] = sorted([*manifest["shards"], _shard_stats(buffer, shard)], key=lambda s: s["file"])
                # Time is banked per shard so that a killed-and-resumed run still reports its total.
                manifest["wall_time_s"] = round(base_wall + time.perf_counter() - started, 3)
                write_json(out_dir / MANIFEST, manifest)
                buffer = []
    if buffer:
        raise CbqaError(f"{corpus_path}: corpus changed while it was being annotated; run again")
    _finish_manifest(manifest)
    manifest["complete"] = True
    manifest["wall_time_s"] = round(base_wall + time.perf_counter() - started, 3)
    manifest["docs_per_s_last_run"] = round(todo_docs / max(time.perf_counter() - started, 1e-9), 1)
    write_json(out_dir / MANIFEST, manifest)
    return out_dir


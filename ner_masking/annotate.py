"""Annotate a corpus with salient spans into a resumable, sharded spans store (see store.py).

The corpus is scanned once (validated, shards planned: `cbqa.core.formats.corpus.scan_corpus`); each shard of
`shard_size` documents is annotated and written atomically by one of two engines that run the same pipeline:

- `local` (default): spaCy's `nlp.pipe` with `n_process` worker processes on this machine;
- `ray`: Ray Data, one spaCy actor per process (`map_batches` over the pending shards, each actor reading its shard
  from the corpus and writing the shard file itself), on a local Ray started here or a cluster (`ray_address`).

A rerun skips the shards whose files exist (each shard records its own counts), so a killed run resumes; the
manifest is written when a run starts and when it finishes, not per shard. One process writes a store at a time
(`cbqa.core.locks`). `overwrite` builds the new store beside the old one (`.NAME.rebuild`, resumable too) and swaps
it in only when it is complete (`cbqa.core.io.replace_dir`): a failure part-way leaves the old store as it was.
Documents longer than `piece_chars` are annotated in pieces cut at sentence starts (`pipeline.annotate_stream`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cbqa.core.contracts import write_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats.corpus import CorpusScan, CorpusShard, Document, read_corpus_slice, scan_corpus
from cbqa.core.io import replace_dir
from cbqa.core.locks import writer_lock
from cbqa.core.progress import progress_bar
from ner_masking.labels import DEFAULT_LABELS
from ner_masking.pipeline import (
    DEFAULT_SPACY_MODEL,
    PIECE_CHARS,
    annotate_stream,
    build_pipeline,
    ner_labels,
    pipeline_info,
)
from ner_masking.store import (
    MANIFEST,
    SHARD_SUFFIX,
    STORE_FORMAT,
    SpanDoc,
    SpansManifest,
    SpansShard,
    read_manifest,
    read_shard_stats,
    shard_index,
    shard_name,
    write_shard,
)

# Options that change what a store holds: a store is resumed or reused only when they match. The rest
# (engine, processes, batch size) change speed, not output.
IDENTITY_OPTIONS = ("merge_adjacent", "drop_cross_sentence", "shard_size", "piece_chars")
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class AnnotateConfig:
    spacy_model: str = DEFAULT_SPACY_MODEL
    labels: tuple[str, ...] = DEFAULT_LABELS
    merge_adjacent: bool = False
    drop_cross_sentence: bool = True
    n_process: int = 1
    batch_size: int = 64
    shard_size: int = 1000
    piece_chars: int = PIECE_CHARS  # longer documents are annotated in pieces cut at sentence starts
    overwrite: bool = False
    progress: bool = True
    engine: str = "local"
    ray_address: str | None = None  # None: start a local Ray; "auto" or "ray://host:port": join a cluster

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.labels:
            raise CbqaError("no entity labels selected")
        for name in ("n_process", "batch_size", "shard_size", "piece_chars"):
            if getattr(self, name) < 1:
                raise CbqaError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.engine not in ENGINES:
            raise CbqaError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.ray_address and self.engine != "ray":
            raise CbqaError("ray_address needs engine 'ray'")


# -- store identity and manifest -------------------------------------------------------------------------------------


def _identity(manifest: SpansManifest) -> dict[str, Any]:
    """What decides a store's content: a store is resumed or reused only when this is the same."""
    p = manifest.pipeline
    return {
        "pipeline": {"name": p.name, "version": p.version, "components": p.components},
        "labels": manifest.labels,
        "options": manifest.options,
        "corpus_fingerprint": manifest.corpus.fingerprint,
    }


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"{k}: store has {old.get(k)!r}, this run wants {new[k]!r}" for k in new if old.get(k) != new[k]]


def _clear_store(out_dir: Path) -> None:
    for pattern in ("shard-*.arrow", "shard-*.parquet", ".shard-*.tmp"):
        for path in out_dir.glob(pattern):
            path.unlink(missing_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)


def _new_manifest(
    config: AnnotateConfig, pipeline: dict[str, Any], scan: CorpusScan, known: tuple[str, ...]
) -> SpansManifest:
    return SpansManifest(
        format=STORE_FORMAT,
        complete=False,
        pipeline=pipeline,
        labels=list(config.labels),
        labels_not_in_pipeline=[lab for lab in config.labels if known and lab not in known],
        options={k: getattr(config, k) for k in IDENTITY_OPTIONS},
        text_field="text (the corpus document's text; the title is stored but not annotated)",
        offsets="character (code point) offsets into text, end exclusive",
        corpus={
            "path": scan.path,
            "format": scan.format,
            "fingerprint": scan.fingerprint,
            "docs": scan.docs,
            "words": scan.words,
        },
        shards=[],
        docs=0,
        spans=0,
        label_counts={},
        run=_run_info(config),
        wall_time_s=0.0,
        runs=0,
    )


def _run_info(config: AnnotateConfig) -> dict[str, Any]:
    return {"engine": config.engine, "n_process": config.n_process, "batch_size": config.batch_size}


def _prepare_store(out_dir: Path, config: AnnotateConfig, fresh: SpansManifest) -> SpansManifest:
    """The manifest to continue from: a fresh one, or the existing one when it matches."""
    if out_dir.exists() and not out_dir.is_dir():
        raise CbqaError(f"{out_dir}: exists and is not a directory")
    if config.overwrite and out_dir.is_dir():
        if (out_dir / MANIFEST).exists() or not any(out_dir.iterdir()):
            _clear_store(out_dir)
        else:
            raise CbqaError(f"{out_dir}: exists and is not a spans store; refusing to overwrite it")
    old = read_manifest(out_dir) if out_dir.exists() else None
    if old is not None:
        diffs = _differences(_identity(old), _identity(fresh))
        if diffs:
            raise CbqaError(
                f"{out_dir}: holds a spans store made differently ({'; '.join(diffs)}); "
                "pass --overwrite to rebuild it or choose another --out"
            )
        return old
    out_dir.mkdir(parents=True, exist_ok=True)
    return fresh


def _finished_shards(out_dir: Path, scan: CorpusScan) -> dict[int, dict[str, Any]]:
    """Shard index -> stats, for the shard files present whose document count is the planned one."""
    planned = {s.index: s.count for s in scan.shards}
    done = {}
    for path in out_dir.glob(f"shard-*{SHARD_SUFFIX}"):
        index = shard_index(path.name)
        stats = read_shard_stats(path)
        if planned.get(index) == stats["docs"]:
            done[index] = stats
    return done


def _finish_manifest(manifest: SpansManifest, shards: dict[int, dict[str, Any]]) -> None:
    manifest.shards = [SpansShard(**shards[i]) for i in sorted(shards)]
    totals: Counter[str] = Counter()
    for shard in manifest.shards:
        totals.update(shard.label_counts)
    manifest.docs = sum(s.docs for s in manifest.shards)
    manifest.spans = sum(totals.values())
    manifest.label_counts = dict(totals.most_common())


# -- engines ---------------------------------------------------------------------------------------------------------


def _local_engine(
    corpus: Path, pending: list[CorpusShard], out_dir: Path, config: AnnotateConfig, nlp: Any
) -> Iterator[dict[str, Any]]:
    """nlp.pipe over the pending shards' documents, in order; one shard file per finished shard."""

    def docs() -> Iterator[tuple[int, Document]]:
        for shard in pending:
            for doc in read_corpus_slice(corpus, shard):
                yield shard.index, doc

    stream = annotate_stream(nlp, docs(), config.batch_size, config.n_process, config.piece_chars)
    sizes = {s.index: s.count for s in pending}
    buffer: list[SpanDoc] = []
    for index, doc in stream:
        buffer.append(doc)
        if len(buffer) == sizes[index]:
            yield write_shard(out_dir / shard_name(index), buffer, config.labels) | {"index": index}
            buffer = []


def _engine(config: AnnotateConfig):
    if config.engine == "ray":
        from ner_masking.ray_engine import ray_engine

        return ray_engine
    return _local_engine


def annotate_corpus(corpus_path: str | Path, out_dir: str | Path, config: AnnotateConfig | None = None) -> Path:
    """Annotate `corpus_path` into the store `out_dir`, resuming finished shards; returns `out_dir`."""
    config = config or AnnotateConfig()
    corpus_path, out_dir = Path(corpus_path), Path(out_dir)
    with writer_lock(out_dir, "cbqa ner"):
        scan = scan_corpus(corpus_path, config.shard_size)
        if scan.docs == 0:
            raise CbqaError(f"{corpus_path}: no documents to annotate (an empty corpus)")
        if config.overwrite and _holds_store(out_dir):  # the old store stays until the new one is complete
            work = out_dir.with_name(f".{out_dir.name}.rebuild")
            _annotate(corpus_path, work, replace(config, overwrite=False), scan, rebuild=True)
            replace_dir(work, out_dir)
            return out_dir
        return _annotate(corpus_path, out_dir, config, scan)


def _holds_store(out_dir: Path) -> bool:
    return out_dir.is_dir() and (out_dir / MANIFEST).exists()


def _annotate(
    corpus_path: Path, out_dir: Path, config: AnnotateConfig, scan: CorpusScan, rebuild: bool = False
) -> Path:
    """Annotate into `out_dir` (a `rebuild` work directory is started afresh when it holds another store)."""
    nlp = build_pipeline(config.spacy_model, config.labels, config.merge_adjacent, config.drop_cross_sentence)
    nlp.max_length = max(nlp.max_length, scan.max_chars + 1)
    fresh = _new_manifest(config, pipeline_info(nlp, config.spacy_model), scan, ner_labels(nlp))
    if rebuild and _holds_store(out_dir) and _identity(read_manifest(out_dir)) != _identity(fresh):
        _clear_store(out_dir)
    manifest = _prepare_store(out_dir, config, fresh)
    done = _finished_shards(out_dir, scan)
    pending = [s for s in scan.shards if s.index not in done]
    if manifest.complete and not pending:
        return out_dir  # same corpus, pipeline and options: nothing to do
    manifest.complete, manifest.runs = False, manifest.runs + 1  # counted at the start: an interrupted run shows
    manifest.corpus.path, manifest.run = scan.path, _run_info(config)
    write_contract(out_dir / MANIFEST, manifest)

    todo = sum(s.count for s in pending)
    started, seen = time.perf_counter(), 0
    with progress_bar(f"cbqa ner ({config.engine}) - docs/s", total=todo, enabled=config.progress) as advance:
        for stats in _engine(config)(corpus_path, pending, out_dir, config, nlp):
            done[stats.pop("index")] = stats
            seen += stats["docs"]
            rate = seen / max(time.perf_counter() - started, 1e-9)
            advance(stats["docs"], description=f"cbqa ner ({config.engine}) {rate:,.0f} docs/s")
    missing = [s.index for s in scan.shards if s.index not in done]
    if missing:
        raise CbqaError(f"{corpus_path}: shards {missing[:5]} were not written; run the same command again")
    elapsed = time.perf_counter() - started
    _finish_manifest(manifest, done)
    manifest.complete, manifest.wall_time_s = True, round(manifest.wall_time_s + elapsed, 3)
    manifest.docs_per_s_last_run = round(todo / max(elapsed, 1e-9), 1)
    write_contract(out_dir / MANIFEST, manifest)
    return out_dir

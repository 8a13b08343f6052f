"""The spans store: uncompressed Arrow IPC shards of annotated documents, memory-mapped, with random access by row.

Layout of a store directory:

    manifest.json        what made the store (pipeline, labels, options, corpus fingerprint), its shards and
                         counts; `complete` is false while an annotation run is unfinished. Written when the run
                         starts and when it finishes, never per shard.
    shard-00000.arrow    Arrow IPC file (uncompressed, so it can be memory-mapped): columns id, title, text,
    shard-00001.arrow    sent_start/sent_end (list<int32>), span_start/span_end (list<int32>), span_label
    ...                  (list<uint8>: index into the manifest's `labels`), label_mask (uint64: bit i set when the
                         document has a span of labels[i]), n_words (int32). Offsets are character (code point)
                         offsets into `text`, end exclusive, as Python slices them. Each shard's schema metadata
                         holds its own counts, so a resumed run learns what is done from the shard files alone.

Parquet would be smaller but is compressed and cannot be memory-mapped row by row; reading a store here costs no
resident memory beyond the pages a training step touches, and start-up does not grow with the corpus: a policy's
question "does this document have a candidate span?" is answered from `label_mask` with numpy, not a Python pass.
The store keeps the text, so it is self-contained: training needs only the store, not the corpus. Writing, mapping
and row access are the core's (`cbqa.core.shards`), shared with the passages of a retrieval index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import StrictBool, StrictStr

from cbqa.core.contracts import Contract, Count, Number, read_contract
from cbqa.core.errors import CbqaError
from cbqa.core.io import fingerprint
from cbqa.core.shards import SHARD_SUFFIX, MappedShard, ShardedRows, ShardFile, read_metadata, shard_index, shard_name  # noqa: F401 - the store's shard file names
from cbqa.core.shards import write_shard as write_arrow_shard
from ner_masking.titles import shown_by_title, words_key

STORE_FORMAT = "cbqa-spans/2"
MANIFEST = "manifest.json"
MAX_LABELS = 64  # label_mask is a uint64


@dataclass(frozen=True)
class SpanDoc:
    """One document with its sentence boundaries and salient spans (character offsets into `text`)."""

    id: str
    text: str
    sentences: list[tuple[int, int]]
    spans: list[tuple[int, int, str]]
    title: str = ""


def _schema(labels: Sequence[str], metadata: dict[str, str] | None = None) -> Any:
    import pyarrow as pa

    ints = pa.list_(pa.int32())
    fields = [
        ("id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("sent_start", ints),
        ("sent_end", ints),
        ("span_start", ints),
        ("span_end", ints),
        ("span_label", pa.list_(pa.uint8())),
        ("label_mask", pa.uint64()),
        ("untitled_mask", pa.uint64()),
        ("n_words", pa.int32()),
    ]
    meta = {"labels": json.dumps(list(labels)), **(metadata or {})}
    return pa.schema(fields, metadata=meta)


def label_mask(spans: Sequence[tuple[int, int, str]], labels: Sequence[str]) -> int:
    index = {lab: i for i, lab in enumerate(labels)}
    mask = 0
    for _, _, lab in spans:
        mask |= 1 << index[lab]
    return mask


def _untitled(doc: SpanDoc) -> list[tuple[int, int, str]]:
    if not doc.title:
        return doc.spans
    key = words_key(doc.title)
    return [s for s in doc.spans if not shown_by_title(key, doc.text[s[0] : s[1]])]


def shard_stats(docs: Sequence[SpanDoc]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for d in docs:
        for _, _, lab in d.spans:
            counts[lab] = counts.get(lab, 0) + 1
    return {"docs": len(docs), "spans": sum(counts.values()), "label_counts": dict(sorted(counts.items()))}


def write_shard(path: Path, docs: Sequence[SpanDoc], labels: Sequence[str]) -> dict[str, Any]:
    """Write one shard atomically (a killed run leaves the whole shard or none of it); returns its stats."""
    if len(labels) > MAX_LABELS:
        raise CbqaError(f"a spans store holds at most {MAX_LABELS} labels, got {len(labels)}")
    index = {lab: i for i, lab in enumerate(labels)}
    for d in docs:
        unknown = {lab for _, _, lab in d.spans} - index.keys()
        if unknown:
            raise CbqaError(f"document {d.id!r}: span labels {sorted(unknown)} are not among the store's labels")
    stats = {"file": path.name, **shard_stats(docs)}
    columns = {
        "id": [d.id for d in docs],
        "title": [d.title for d in docs],
        "text": [d.text for d in docs],
        "sent_start": [[s for s, _ in d.sentences] for d in docs],
        "sent_end": [[e for _, e in d.sentences] for d in docs],
        "span_start": [[s for s, _, _ in d.spans] for d in docs],
        "span_end": [[e for _, e, _ in d.spans] for d in docs],
        "span_label": [[index[lab] for _, _, lab in d.spans] for d in docs],
        "label_mask": [label_mask(d.spans, labels) for d in docs],
        "untitled_mask": [label_mask(_untitled(d), labels) for d in docs],
        "n_words": [len(d.text.split()) for d in docs],
    }
    write_arrow_shard(path, columns, _schema(labels, {"stats": json.dumps(stats)}))
    return stats


def read_shard_stats(path: Path) -> dict[str, Any]:
    """The counts a shard's schema metadata holds (reads the file footer only)."""
    try:
        return json.loads(read_metadata(path, "spans shard")[b"stats"])
    except (KeyError, ValueError) as e:
        raise CbqaError(f"{path}: not a spans shard ({e})") from None


class ShardView:
    """One memory-mapped shard (`cbqa.core.shards.MappedShard`): numpy views of its offset arrays, row access
    to its strings (no copies)."""

    def __init__(self, path: Path) -> None:
        shard = MappedShard(path, "spans shard")
        self._shard = shard
        self.labels: list[str] = json.loads(shard.metadata.get(b"labels", b"[]"))
        self.rows = shard.rows
        self.id, self.title, self.text = (shard.strings(k) for k in ("id", "title", "text"))
        self.sent_offsets = shard.list_offsets("sent_start")
        self.sent_start, self.sent_end = shard.list_values("sent_start"), shard.list_values("sent_end")
        self.span_offsets = shard.list_offsets("span_start")
        self.span_start, self.span_end = shard.list_values("span_start"), shard.list_values("span_end")
        self.span_label = shard.list_values("span_label")
        self.label_mask = shard.numpy("label_mask")
        self.untitled_mask = shard.numpy("untitled_mask")
        self.n_words = shard.numpy("n_words")

    def doc(self, i: int) -> SpanDoc:
        a, b = self.sent_offsets[i], self.sent_offsets[i + 1]
        c, d = self.span_offsets[i], self.span_offsets[i + 1]
        labels = self.labels
        return SpanDoc(
            id=self.id[i],
            text=self.text[i],
            sentences=list(zip(self.sent_start[a:b].tolist(), self.sent_end[a:b].tolist())),
            spans=[
                (s, e, labels[k])
                for s, e, k in zip(
                    self.span_start[c:d].tolist(), self.span_end[c:d].tolist(), self.span_label[c:d].tolist()
                )
            ],
            title=self.title[i],
        )


def read_shard(path: Path) -> list[SpanDoc]:
    view = ShardView(path)
    return [view.doc(i) for i in range(view.rows)]


class SpansPipeline(Contract):
    model: StrictStr | None = None  # the spaCy pipeline cbqa ner was given
    name: StrictStr
    version: StrictStr
    components: list[StrictStr]


class SpansCorpus(Contract):
    path: StrictStr | None = None
    format: StrictStr | None = None
    fingerprint: StrictStr


class SpansShard(Contract):
    file: ShardFile
    docs: Count
    spans: Count | None = None
    label_counts: dict[str, Count]


class SpansManifest(Contract):
    """`manifest.json` of a spans store: the fields annotation, resuming and loading read are checked; the others
    (corpus docs and words, per-run timing) are kept as they are."""

    FORMAT = {"format": STORE_FORMAT}
    WHAT = "spans store manifest"
    HINT = "run `cbqa ner ... --overwrite` to rebuild it"
    format: StrictStr
    complete: StrictBool
    pipeline: SpansPipeline
    labels: list[StrictStr]
    labels_not_in_pipeline: list[StrictStr]
    options: dict[str, Any]
    text_field: StrictStr | None = None
    offsets: StrictStr | None = None
    corpus: SpansCorpus
    shards: list[SpansShard]
    docs: Count
    spans: Count
    label_counts: dict[str, Count]
    run: dict[str, Any] | None = None
    wall_time_s: Number
    runs: Count
    docs_per_s_last_run: Number | None = None


def read_manifest(store_dir: Path) -> SpansManifest | None:
    """The store's manifest (None when there is none); anything malformed is one `CbqaError` line naming the file."""
    path = Path(store_dir) / MANIFEST
    return read_contract(SpansManifest, path) if path.exists() else None


class SpanStore:
    """A finished spans store: `len`, random access `store[i]` / `store.doc(i)`, iteration shard by shard, and the
    per-document columns policies filter on (`label_mask()`, `n_words()`), all over memory-mapped shards."""

    def __init__(self, directory: Path, manifest: SpansManifest) -> None:
        self.directory = directory
        self.manifest = manifest.to_dict()  # as in the file
        self.labels: list[str] = list(manifest.labels)
        self.shard_paths = [directory / s.file for s in manifest.shards]
        self._rows: ShardedRows[ShardView] = ShardedRows(self.shard_paths, [s.docs for s in manifest.shards], ShardView)

    def __len__(self) -> int:
        return len(self._rows)

    def _view(self, shard: int) -> ShardView:
        return self._rows.view(shard)

    def locate(self, i: int) -> tuple[int, int]:
        """(shard, row in shard) of global row `i`."""
        if not 0 <= i < len(self):
            raise IndexError(f"row {i} out of range for a store of {len(self)} documents")
        return self._rows.locate(i)

    def doc(self, i: int) -> SpanDoc:
        shard, row = self.locate(i)
        return self._view(shard).doc(row)

    __getitem__ = doc

    def __iter__(self) -> Iterator[SpanDoc]:
        for path in self.shard_paths:
            view = ShardView(path)
            for row in range(view.rows):
                yield view.doc(row)

    def docs(self) -> list[SpanDoc]:
        """Every document as a Python object: for small stores and tests; training never calls this."""
        return list(self)

    def _column(self, name: str) -> np.ndarray:
        parts = [getattr(ShardView(p), name) for p in self.shard_paths]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32 if name == "n_words" else np.uint64)

    def label_mask(self) -> np.ndarray:
        """uint64 per document: bit i set when it has a span labelled `self.labels[i]` (8 bytes per document)."""
        return self._column("label_mask")

    def untitled_mask(self) -> np.ndarray:
        """As `label_mask`, counting only the spans the document's title does not show (SSM with `title: true`)."""
        return self._column("untitled_mask")

    def n_words(self) -> np.ndarray:
        return self._column("n_words")

    def mask_of(self, labels: Sequence[str]) -> int:
        """The label_mask bits of `labels` (labels the store does not hold contribute nothing)."""
        return sum(1 << i for i, lab in enumerate(self.labels) if lab in set(labels))


def load_span_store(store_dir: str | Path, corpus_path: str | Path | None = None) -> SpanStore:
    """Open a finished store; with `corpus_path`, refuse it unless it was made from exactly that corpus."""
    store_dir = Path(store_dir)
    manifest = read_manifest(store_dir)
    if manifest is None:
        raise CbqaError(f"{store_dir}: no {MANIFEST}; make a spans store with `cbqa ner --corpus FILE --out DIR`")
    if not manifest.complete:
        raise CbqaError(f"{store_dir}: annotation is unfinished; run the same `cbqa ner` command again to resume")
    missing = [s.file for s in manifest.shards if not (store_dir / s.file).exists()]
    if missing:
        raise CbqaError(f"{store_dir}: shard files missing: {', '.join(missing[:3])}")
    if corpus_path is not None:
        actual = fingerprint(corpus_path)
        if actual != manifest.corpus.fingerprint:
            raise CbqaError(
                f"{store_dir}: made from a different corpus than {corpus_path} "
                f"({manifest.corpus.fingerprint[:19]}... vs {actual[:19]}...); re-run `cbqa ner`"
            )
    return SpanStore(store_dir, manifest)

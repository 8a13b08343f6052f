"""The spans store: parquet shards of annotated documents plus a `manifest.json`.

Layout of a store directory:

    manifest.json          what made the store (pipeline, labels, options, corpus fingerprint), its shards
                           and counts; `complete` is false while an annotation run is unfinished
    shard-00000.parquet    columns id, title, text, sentences (list<struct<start,end>>),
    shard-00001.parquet    spans (list<struct<start,end,label>>); offsets are character (code point)
    ...                    offsets into `text`, end exclusive, as Python slices them

The store keeps the text, so it is self-contained: training needs only the store, not the corpus.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.errors import CbqaError
from cbqa.io import atomic_path, fingerprint

STORE_FORMAT = "cbqa-spans/1"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class SpanDoc:
    """One document with its sentence boundaries and salient spans (character offsets into `text`)."""

    id: str
    text: str
    sentences: list[tuple[int, int]]
    spans: list[tuple[int, int, str]]
    title: str = ""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def _schema() -> Any:
    import pyarrow as pa

    offsets = [("start", pa.int32()), ("end", pa.int32())]
    return pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("text", pa.string()),
            ("sentences", pa.list_(pa.struct(offsets))),
            ("spans", pa.list_(pa.struct([*offsets, ("label", pa.string())]))),
        ]
    )


def write_shard(path: Path, docs: list[SpanDoc]) -> None:
    """Write one shard atomically: a killed run leaves either the whole shard or none of it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {
        "id": [d.id for d in docs],
        "title": [d.title for d in docs],
        "text": [d.text for d in docs],
        "sentences": [[{"start": s, "end": e} for s, e in d.sentences] for d in docs],
        "spans": [[{"start": s, "end": e, "label": lab} for s, e, lab in d.spans] for d in docs],
    }
    table = pa.Table.from_pydict(rows, schema=_schema())
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_shard(path: Path) -> list[SpanDoc]:
    import pyarrow.parquet as pq

    try:
        cols = pq.read_table(path).to_pydict()
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise CbqaError(f"{path}: cannot read spans shard ({e})") from None
    return [
        SpanDoc(
            id=did,
            text=text,
            sentences=[(s["start"], s["end"]) for s in sents],
            spans=[(s["start"], s["end"], s["label"]) for s in spans],
            title=title,
        )
        for did, title, text, sents, spans in zip(
            cols["id"], cols["title"], cols["text"], cols["sentences"], cols["spans"], strict=True
        )
    ]


def read_manifest(store_dir: Path) -> dict[str, Any] | None:
    path = store_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CbqaError(f"{path}: not a valid manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        raise CbqaError(f"{path}: not a spans store manifest (expected format {STORE_FORMAT!r})")
    return manifest


class SpanStore:
    """A finished spans store. Iterate it (shard by shard) or call `.docs()` for a list."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest

    @property
    def shard_paths(self) -> list[Path]:
        return [self.directory / s["file"] for s in self.manifest["shards"]]

    def __len__(self) -> int:
        return int(self.manifest["docs"])

    def __iter__(self) -> Iterator[SpanDoc]:
        for path in self.shard_paths:
            yield from read_shard(path)

    def docs(self) -> list[SpanDoc]:
        return list(self)


def load_span_store(store_dir: str | Path, corpus_path: str | Path | None = None) -> SpanStore:
    """Open a finished store; with `corpus_path`, refuse it unless it was made from exactly that corpus."""
    store_dir = Path(store_dir)
    manifest = read_manifest(store_dir)
    if manifest is None:
        raise CbqaError(f"{store_dir}: no {MANIFEST}; make a spans store with `cbqa ner --corpus FILE --out DIR`")
    if not manifest.get("complete"):
        raise CbqaError(f"{store_dir}: annotation is unfinished; run the same `cbqa ner` command again to resume")
    missing = [s["file"] for s in manifest["shards"] if not (store_dir / s["file"]).exists()]
    if missing:
        raise CbqaError(f"{store_dir}: shard files missing: {', '.join(missing[:3])}")
    if corpus_path is not None:
        actual = fingerprint(corpus_path)
        if actual != manifest["corpus"]["fingerprint"]:
            raise CbqaError(
                f"{store_dir}: made from a different corpus than {corpus_path} "
                f"({manifest['corpus']['fingerprint'][:19]}... vs {actual[:19]}...); re-run `cbqa ner`"
            )
    return SpanStore(store_dir, manifest)

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
import re
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
    """The store's manifest (None when there is none), checked field by field: anything malformed is one
    `CbqaError` line naming the file, never a KeyError later."""
    path = Path(store_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw)
    except OSError as e:
        raise CbqaError(f"{path}: cannot read ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise CbqaError(f"{path}: not a valid manifest ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        raise CbqaError(f"{path}: not a spans store manifest (expected format {STORE_FORMAT!r})")
    for key, kinds in _MANIFEST_FIELDS:
        value = manifest
        for part in key.split("."):
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING or isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            got = "nothing" if value is _MISSING else type(value).__name__
            raise CbqaError(f"{path}: field {key!r} must be {' or '.join(k.__name__ for k in kinds)}, got {got}")
    if not all(isinstance(x, str) for x in manifest["labels"]):
        raise CbqaError(f"{path}: field 'labels' must be a list of strings")
    for i, shard in enumerate(manifest["shards"]):
        ok = (isinstance(shard, dict) and isinstance(shard.get("file"), str) and _SHARD_FILE.fullmatch(shard["file"])
              and type(shard.get("docs")) is int and shard["docs"] >= 0 and isinstance(shard.get("label_counts"), dict)
              and all(type(n) is int for n in shard["label_counts"].values()))
        if not ok:
            raise CbqaError(f"{path}: shards[{i}] must be {{file: shard-NNNNN.parquet, docs: int, label_counts: {{label: int}}}}")
    return manifest


_MISSING = object()
_SHARD_FILE = re.compile(r"shard-\d{5,}\.parquet")
# Fields that annotation, resuming and loading read (dotted key, allowed types).
_MANIFEST_FIELDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("complete", (bool,)), ("pipeline", (dict,)), ("pipeline.name", (str,)), ("pipeline.version", (str,)),
    ("pipeline.components", (list,)), ("labels", (list,)), ("labels_not_in_pipeline", (list,)), ("options", (dict,)), ("corpus", (dict,)),
    ("corpus.fingerprint", (str,)), ("shards", (list,)), ("docs", (int,)), ("spans", (int,)),
    ("label_counts", (dict,)), ("wall_time_s", (int, float)), ("runs", (int,)),
)


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

"""Corpus files, read as a stream of `Document`s (never a Python list of the whole corpus unless asked):

- JSONL `{"id", "title"?, "text"}` (the project's format);
- plain text `.txt`, one document per line (ids `{stem}-{line}`);
- DPR's passage TSV (`psgs_w100.tsv`: a header `id<TAB>text<TAB>title`, CSV quoting), `.tsv`;
- Parquet (`.parquet`, columns `id`?, `text`, `title`?), read batch by batch;
- a Hugging Face dataset saved with `save_to_disk` (a directory), read from its memory-mapped Arrow files.

`scan_corpus` validates every document once and records where each shard of `shard_size` documents starts (a byte
offset for line formats, a row for columnar ones), so `read_corpus_slice` lets a worker of a distributed engine read
its own shard without reading the corpus from the beginning.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, StrictStr

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.jsonl import expect_file, read_rows, record_id, write_jsonl
from cbqa.core.io import fingerprint

FORMATS = ("jsonl", "txt", "tsv", "parquet", "hf")
DPR_HEADER = ["id", "text", "title"]


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id}
        if self.title:
            row["title"] = self.title
        row["text"] = self.text
        return row


class DocumentRow(BaseModel):
    """A corpus JSONL line (other keys are ignored)."""

    id: Any = None
    text: StrictStr
    title: StrictStr | None = None


def parse_document(obj: dict[str, Any], path: Path | str, line: int | None) -> Document:
    """A columnar corpus row (Parquet, a Hugging Face dataset) checked by hand: `DocumentRow.model_validate` on a dict
    costs more than these checks (bench/readers.py, "pydantic (dict)"), and a corpus can have tens of millions."""
    did, text, title = record_id(obj.get("id"), path, line), obj.get("text"), obj.get("title", "")
    if text is None:
        raise DataError(path, line, "missing 'text'")
    if not isinstance(text, str):
        raise DataError(path, line, f"'text' must be a string, got {type(text).__name__}")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise DataError(path, line, f"'title' must be a string, got {type(title).__name__}")
    return Document(id=did, text=text, title=title)


def corpus_format(path: str | Path) -> str:
    path = Path(path)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return "hf"
        raise DataError(path, None, "is a directory but not a Hugging Face dataset saved with save_to_disk")
    suffix = path.suffix.lower()
    return {".txt": "txt", ".tsv": "tsv", ".parquet": "parquet"}.get(suffix, "jsonl")


# -- line formats: (line number, byte offset, record) from any byte offset ----------------------------------------


def _raw_lines(path: Path, offset: int = 0, first_line: int = 1) -> Iterator[tuple[int, int, str]]:
    """(line number, byte offset of the line, text) from `offset` on; a decoding error names the line."""
    expect_file(path)
    with path.open("rb") as f:
        f.seek(offset)
        pos, lineno = offset, first_line
        for raw in f:
            try:
                text = raw.decode("utf-8-sig" if pos == 0 else "utf-8")
            except UnicodeDecodeError as e:
                raise DataError(path, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
            yield lineno, pos, text
            pos += len(raw)
            lineno += 1


def _jsonl_records(path: Path, offset: int, first_line: int) -> Iterator[tuple[int, int, Document]]:
    for lineno, pos, row in read_rows(path, DocumentRow, offset, first_line):
        yield lineno, pos, Document(record_id(row.id, path, lineno), row.text, row.title or "")


def _txt_records(path: Path, offset: int, first_line: int) -> Iterator[tuple[int, int, Document]]:
    for lineno, pos, text in _raw_lines(path, offset, first_line):
        if text.strip():
            yield lineno, pos, Document(id=f"{path.stem}-{lineno}", text=text.strip())


def _tsv_records(path: Path, offset: int, first_line: int) -> Iterator[tuple[int, int, Document]]:
    lines = _raw_lines(path, offset, first_line)
    if offset == 0:
        header = next(lines, None)
        fields = next(csv.reader([header[2]], delimiter="\t")) if header else []
        if [f.strip().lower() for f in fields] != DPR_HEADER:
            raise DataError(path, 1, f"expected DPR's passage header id<TAB>text<TAB>title, got {fields[:3]!r}")
    for lineno, pos, line in lines:
        if not line.strip():
            continue
        row = next(csv.reader([line.rstrip("\r\n")], delimiter="\t"))
        if len(row) != 3:
            raise DataError(path, lineno, f"expected 3 tab-separated fields (id, text, title), got {len(row)}")
        yield lineno, pos, Document(id=row[0], text=row[1], title=row[2])


_LINE_READERS = {"jsonl": _jsonl_records, "txt": _txt_records, "tsv": _tsv_records}


# -- columnar formats ----------------------------------------------------------------------------------------------


def _columnar_document(row: dict[str, Any], index: int, path: Path) -> Document:
    where = f"{path} (row {index})"
    return parse_document({"id": row.get("id", str(index)), **{k: v for k, v in row.items() if k != "id"}}, where, None)


def _parquet_rows(path: Path, start: int = 0, count: int | None = None) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(str(path))
    except (OSError, pa.ArrowInvalid) as e:
        raise DataError(path, None, f"cannot read as Parquet ({e})") from None
    if "text" not in pf.schema_arrow.names:
        raise DataError(path, None, f"a Parquet corpus needs a 'text' column; it has {pf.schema_arrow.names}")
    columns = [c for c in ("id", "title", "text") if c in pf.schema_arrow.names]
    end = pf.metadata.num_rows if count is None else min(start + count, pf.metadata.num_rows)
    row = 0
    for group in range(pf.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        if row + n <= start:
            row += n
            continue
        if row >= end:
            break
        table = pf.read_row_group(group, columns=columns)
        lo, hi = max(start - row, 0), min(end - row, n)
        for i, rec in enumerate(table.slice(lo, hi - lo).to_pylist()):
            yield _columnar_document(rec, row + lo + i, path)
        row += n


def _hf_dataset(path: Path) -> Any:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except (OSError, ValueError, FileNotFoundError) as e:
        raise DataError(path, None, f"cannot load the Hugging Face dataset ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        raise CbqaError(f"{path}: holds several splits {list(ds)}; point at one split's directory")
    if "text" not in ds.column_names:
        raise DataError(path, None, f"a dataset corpus needs a 'text' column; it has {ds.column_names}")
    return ds


def _hf_rows(path: Path, start: int = 0, count: int | None = None) -> Iterator[Document]:
    ds = _hf_dataset(path)
    end = len(ds) if count is None else min(start + count, len(ds))
    for lo in range(start, end, 1000):  # dict-of-columns slices: ~1000x fewer Python calls than row indexing
        batch = ds[lo : min(lo + 1000, end)]
        for i in range(len(batch["text"])):
            yield _columnar_document({k: v[i] for k, v in batch.items()}, lo + i, path)


# -- public API ----------------------------------------------------------------------------------------------------


def iter_corpus(path: str | Path) -> Iterator[Document]:
    """Every document of a corpus, in order, validated as it is read (duplicate ids are an error)."""
    path = Path(path)
    fmt = corpus_format(path)

    def checked(docs: Iterator[tuple[int | None, Document]]) -> Iterator[Document]:
        seen: dict[str, int | None] = {}
        for line, doc in docs:
            if doc.id in seen:
                where = f" (first on line {seen[doc.id]})" if seen[doc.id] else ""
                raise DataError(path, line, f"duplicate id {doc.id!r}{where}")
            seen[doc.id] = line
            yield doc

    if fmt in _LINE_READERS:
        return checked((line, doc) for line, _, doc in _LINE_READERS[fmt](path, 0, 1))
    rows = _parquet_rows(path) if fmt == "parquet" else _hf_rows(path)
    return checked((None, doc) for doc in rows)


def read_corpus(path: str | Path) -> list[Document]:
    return list(iter_corpus(path))


def write_corpus(path: str | Path, docs: Iterable[Document]) -> int:
    return write_jsonl(path, (d.to_json() for d in docs))


@dataclass(frozen=True)
class CorpusShard:
    """Where a shard of documents starts: `start` (document index), `count`, and for line formats the byte
    `offset` and `line` of its first record."""

    index: int
    start: int
    count: int
    offset: int = 0
    line: int = 1


@dataclass
class CorpusScan:
    path: str
    format: str
    fingerprint: str
    docs: int = 0
    max_chars: int = 0
    words: int = 0
    shards: list[CorpusShard] = field(default_factory=list)


def scan_corpus(path: str | Path, shard_size: int) -> CorpusScan:
    """Validate the whole corpus (bad input fails before any work) and plan its shards."""
    path = Path(path)
    fmt = corpus_format(path)
    scan = CorpusScan(str(path), fmt, fingerprint(path))
    starts: list[tuple[int, int]] = []  # (offset, line) of each shard's first record
    seen: set[str] = set()
    records: Iterator[tuple[int, int, Document]]
    if fmt in _LINE_READERS:
        records = _LINE_READERS[fmt](path, 0, 1)
    else:
        rows = _parquet_rows(path) if fmt == "parquet" else _hf_rows(path)
        records = ((0, 0, doc) for doc in rows)
    for line, offset, doc in records:
        if doc.id in seen:
            raise DataError(path, line or None, f"duplicate id {doc.id!r}")
        seen.add(doc.id)
        if scan.docs % shard_size == 0:
            starts.append((offset, line))
        scan.docs += 1
        scan.max_chars = max(scan.max_chars, len(doc.text))
        scan.words += len(doc.text.split())
    del seen
    scan.shards = [
        CorpusShard(i, i * shard_size, min(shard_size, scan.docs - i * shard_size), off, line)
        for i, (off, line) in enumerate(starts)
    ]
    return scan


def read_corpus_slice(path: str | Path, shard: CorpusShard) -> list[Document]:
    """The documents of one planned shard (see `scan_corpus`), read from where it starts."""
    path = Path(path)
    fmt = corpus_format(path)
    if fmt in _LINE_READERS:
        out = []
        for _, _, doc in _LINE_READERS[fmt](path, shard.offset, shard.line):
            out.append(doc)
            if len(out) == shard.count:
                break
    else:
        rows = (
            _parquet_rows(path, shard.start, shard.count)
            if fmt == "parquet"
            else _hf_rows(path, shard.start, shard.count)
        )
        out = list(rows)
    if len(out) != shard.count:
        raise CbqaError(
            f"{path}: shard {shard.index} holds {len(out)} documents, expected {shard.count}; "
            "did the corpus change during the run?"
        )
    return out


__all__ = [
    "FORMATS",
    "CorpusScan",
    "CorpusShard",
    "Document",
    "corpus_format",
    "iter_corpus",
    "parse_document",
    "read_corpus",
    "read_corpus_slice",
    "scan_corpus",
    "write_corpus",
]

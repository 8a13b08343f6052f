"""Passages on disk: Arrow IPC shards (columns id, title, text), memory-mapped and read by row id.

The row id of a passage is its FAISS row and its BM25 document number, so a search turns into passages by row, and
nothing about the corpus is held in Python lists: opening a store reads no passage, and reading row `i` touches only
the pages that hold it (`cbqa.core.shards`, the format the spans store uses too). Each shard's size is in the
index manifest; a shard whose file holds another number of rows is refused when it is first opened.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from cbqa.core.errors import CbqaError
from cbqa.core.shards import MappedShard, ShardedRows, read_num_rows, write_shard
from retrieval_baseline.passages import Passage, passages_fingerprint

PASSAGES_DIR = "passages"


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("title", pa.string()), ("text", pa.string())])


def write_passage_shard(path: str | Path, passages: Sequence[Passage]) -> None:
    """One shard of passages, written atomically."""
    write_shard(
        path,
        {"id": [p.id for p in passages], "title": [p.title for p in passages], "text": [p.text for p in passages]},
        _schema(),
    )


def passage_shard_rows(path: str | Path) -> int:
    return read_num_rows(path, "passage shard")


class _Shard:
    def __init__(self, path: Path, expected: int) -> None:
        shard = MappedShard(path, "passage shard")
        if shard.rows != expected or set(shard.columns) != {"id", "title", "text"}:
            raise CbqaError(
                f"{path}: holds {shard.rows} passages with columns {sorted(shard.columns)}; the manifest "
                f"says {expected} with id, title, text (edited or corrupt; rebuild the index)"
            )
        self._shard = shard  # keeps the mapping open
        self.id, self.title, self.text = (shard.strings(k) for k in ("id", "title", "text"))
        self.rows = shard.rows


def _open_shard(size_of: dict[str, int], path: Path) -> _Shard:
    return _Shard(path, size_of[path.name])


class Passages(Protocol):
    """What search needs of a passage collection: its size, and a passage or its id by row."""

    def __len__(self) -> int: ...

    def __getitem__(self, row: int) -> Passage: ...

    def id(self, row: int) -> str: ...


class PassageStore:
    """The passages of an index directory: `len`, `store[row]` -> Passage, `store.id(row)`, iteration shard by shard."""

    def __init__(self, directory: str | Path, shards: Sequence[tuple[str, int]]) -> None:
        self.directory = Path(directory)
        self.files = [name for name, _ in shards]
        self.sizes = [int(n) for _, n in shards]
        paths = [self.directory / name for name in self.files]
        # a module-level opener, so the store pickles (without its mappings) for dataloader workers and Ray tasks
        opener = functools.partial(_open_shard, dict(zip(self.files, self.sizes)))
        self._rows: ShardedRows[_Shard] = ShardedRows(paths, self.sizes, opener)

    def missing_files(self) -> list[str]:
        return [name for name in self.files if not (self.directory / name).is_file()]

    def __len__(self) -> int:
        return len(self._rows)

    def _at(self, row: int) -> tuple[_Shard, int]:
        shard, i = self._rows.locate(int(row))
        return self._rows.view(shard), i

    def __getitem__(self, row: int) -> Passage:
        s, i = self._at(row)
        return Passage(s.id[i], s.title[i], s.text[i])

    def id(self, row: int) -> str:
        s, i = self._at(row)
        return s.id[i]

    def ids(self, rows: Iterable[int]) -> list[str]:
        return [self.id(r) for r in rows]

    def shard(self, index: int) -> list[Passage]:
        s = _Shard(self.directory / self.files[index], self.sizes[index])
        return [Passage(s.id[i], s.title[i], s.text[i]) for i in range(s.rows)]

    def iter_shards(self) -> Iterator[list[Passage]]:
        for index in range(len(self.files)):
            yield self.shard(index)

    def __iter__(self) -> Iterator[Passage]:
        for passages in self.iter_shards():
            yield from passages

    def texts(self) -> Iterator[str]:
        for index in range(len(self.files)):
            s = _Shard(self.directory / self.files[index], self.sizes[index])
            for i in range(s.rows):
                yield s.text[i]

    def fingerprint(self) -> str:
        """The passages fingerprint (`passages_fingerprint`), read shard by shard: reads every passage."""
        return passages_fingerprint(self)


class ListPassages:
    """A list of passages behind the `Passages` protocol (small corpora built in memory, benchmarks, tests)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self._passages = list(passages)

    def __len__(self) -> int:
        return len(self._passages)

    def __getitem__(self, row: int) -> Passage:
        return self._passages[int(row)]

    def id(self, row: int) -> str:
        return self._passages[int(row)].id

    def __iter__(self) -> Iterator[Passage]:
        return iter(self._passages)


def as_passages(passages: Passages | Sequence[Passage]) -> Passages:
    return passages if hasattr(passages, "id") else ListPassages(passages)  # type: ignore[arg-type]

"""Memory-mapped Arrow IPC shards: the one on-disk row store of the project (the spans store, the passages of a
retrieval index, the sentences of a corpus-overlap index).

A shard is one uncompressed Arrow IPC file holding one record batch, written atomically (`cbqa.core.io.atomic_path`), so
a killed writer leaves the whole shard or none of it, and a resumed run learns what is done from the shard files
alone. Because the file is uncompressed and holds one batch, every column is a single chunk that can be memory-mapped
and read by row through numpy views of its offset and value buffers: opening a shard reads its footer, not its rows,
and reading row `i` touches only the pages that hold it. Per-shard facts (counts, stats) live in the schema metadata,
which the footer alone gives (`read_metadata`).

A shard is mapped with Python's `mmap` and its file closed at once: the mapping stays valid (POSIX), so a store of
thousands of shards keeps them all mapped without holding a file descriptor each (on Python >= 3.13; older Pythons
keep one duplicate descriptor per mapping), and pages are read from disk only when a row touches them. `ShardedRows` maps a global row id onto (shard, row in shard) for a list of shards of known
sizes and keeps every shard it opened mapped (no cap: mappings cost address space, not descriptors or memory); pickled
(dataloader workers, Ray tasks) it drops its mappings, so it pickles cheaply and the receiving process maps again.
"""

from __future__ import annotations

import bisect
import itertools
import mmap
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import numpy as np
from pydantic import AfterValidator, StrictStr

from cbqa.core.contracts import Contract, Count
from cbqa.core.errors import CbqaError
from cbqa.core.io import atomic_path

SHARD_SUFFIX = ".arrow"
SHARD_FILE = re.compile(r"shard-\d{5,}\.arrow")


def _shard_file(name: str) -> str:
    if not SHARD_FILE.fullmatch(name):
        raise ValueError(f"must be a shard file name (shard-NNNNN.arrow), got {name[:40]!r}")
    return name


ShardFile = Annotated[StrictStr, AfterValidator(_shard_file)]  # a shard's file name in a manifest


class RowShard(Contract):
    """A manifest's entry for one shard of a table: its file (in the table's directory) and its number of rows."""

    file: ShardFile
    rows: Count


T = TypeVar("T")
# Python >= 3.13 can map without keeping a descriptor (`trackfd=False`); older ones keep a duplicate of it inside the
# mmap object, so there a mapped shard costs one descriptor (the soft limit is often 1024: `ulimit -n`).
_NO_FD: dict[str, Any] = {"trackfd": False} if sys.version_info >= (3, 13) else {}


def shard_name(index: int, suffix: str = SHARD_SUFFIX) -> str:
    return f"shard-{index:05d}{suffix}"


def shard_index(name: str, suffix: str = SHARD_SUFFIX) -> int:
    return int(name[len("shard-") : -len(suffix)])


def write_shard(path: str | Path, columns: Mapping[str, Any], schema: Any) -> None:
    """Write `columns` (name -> Python list or Arrow array) as one record batch of `schema`, atomically."""
    import pyarrow as pa

    table = pa.Table.from_pydict(dict(columns), schema=schema)
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_table(table, max_chunksize=max(table.num_rows, 1))


def read_metadata(path: str | Path, what: str = "shard") -> dict[bytes, bytes]:
    """A shard's schema metadata, from the file footer only."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            return dict(pa.ipc.open_file(source).schema.metadata or {})
    except (OSError, ValueError, pa.ArrowInvalid) as e:
        raise CbqaError(f"{path}: not a {what} ({e})") from None


def read_num_rows(path: str | Path, what: str = "shard") -> int:
    """Rows of a shard, from its footer and batch headers (no column data is read)."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    except (OSError, ValueError, pa.ArrowInvalid) as e:
        raise CbqaError(f"{path}: not a {what} ({e})") from None


def one_chunk(column: Any) -> Any:
    """A column of a one-batch shard as one Arrow array, without a copy."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def np_view(array: Any) -> np.ndarray:
    """A numpy view (no copy) of a primitive Arrow array without nulls."""
    return array.to_numpy(zero_copy_only=True)


class Strings:
    """Row access to an Arrow string (or large_string) array through its offsets and bytes: no Arrow scalar objects
    per row, and nothing read but the bytes of the rows asked for."""

    def __init__(self, array: Any) -> None:
        import pyarrow as pa

        _, offsets, data = array.buffers()
        width = np.int64 if pa.types.is_large_string(array.type) else np.int32
        size = np.dtype(width).itemsize
        self.offsets = np.frombuffer(offsets, dtype=width, count=len(array) + 1, offset=array.offset * size)
        self.data = memoryview(data) if data is not None else memoryview(b"")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return str(self.data[self.offsets[i] : self.offsets[i + 1]], "utf-8")

    def raw(self, i: int) -> memoryview:
        """Row `i`'s UTF-8 bytes (a view into the mapped file)."""
        return self.data[self.offsets[i] : self.offsets[i + 1]]


class MappedShard:
    """One shard, memory-mapped: its columns as single Arrow chunks, plus `rows` and the schema `metadata`."""

    def __init__(self, path: str | Path, what: str = "shard") -> None:
        import pyarrow as pa

        self.path = Path(path)
        try:
            with self.path.open("rb") as f:  # closed on leaving: the mapping outlives the descriptor
                size = os.fstat(f.fileno()).st_size
                self._map: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ, **_NO_FD) if size else b""
            table = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(self._map))).read_all()
        except (OSError, ValueError, pa.ArrowInvalid) as e:
            raise CbqaError(f"{path}: cannot read {what} ({e})") from None
        self.metadata: dict[bytes, bytes] = dict(table.schema.metadata or {})
        self.rows: int = table.num_rows
        self.columns: dict[str, Any] = {name: one_chunk(table.column(name)) for name in table.column_names}

    def strings(self, name: str) -> Strings:
        return Strings(self.columns[name])

    def numpy(self, name: str) -> np.ndarray:
        return np_view(self.columns[name])

    def list_offsets(self, name: str) -> np.ndarray:
        return np_view(self.columns[name].offsets)

    def list_values(self, name: str) -> np.ndarray:
        return np_view(self.columns[name].values)


class ShardedRows(Generic[T]):
    """Global rows over shards of known sizes: `locate(i)` -> (shard, row), `view(shard)` -> the opened shard (made by
    `open_shard(path)` on first use and kept; `open_shard` must pickle: a class or a module-level function)."""

    def __init__(self, paths: Sequence[Path], sizes: Sequence[int], open_shard: Callable[[Path], T]) -> None:
        if len(paths) != len(sizes):
            raise ValueError(f"{len(paths)} shard paths for {len(sizes)} sizes")
        self.paths = list(paths)
        self.starts = [0, *itertools.accumulate(int(s) for s in sizes)]  # a list bisects fastest at these sizes
        self._open_shard = open_shard
        self._views: dict[int, T] = {}

    def __getstate__(self) -> dict[str, Any]:  # memory maps do not pickle: the receiving process maps the shards again
        return {**self.__dict__, "_views": {}}

    def __len__(self) -> int:
        return self.starts[-1]

    @property
    def shards(self) -> int:
        return len(self.paths)

    def locate(self, i: int) -> tuple[int, int]:
        if not 0 <= i < len(self):
            raise IndexError(f"row {i} out of range for {len(self)} rows")
        shard = bisect.bisect_right(self.starts, i) - 1
        return shard, i - self.starts[shard]

    def view(self, shard: int) -> T:
        view = self._views.get(shard)
        if view is None:
            view = self._views[shard] = self._open_shard(self.paths[shard])
        return view

    def shard_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The shard of each global row (vectorised `locate`)."""
        return np.searchsorted(np.asarray(self.starts[1:]), rows, side="right")

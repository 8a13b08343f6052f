"""The core's memory-mapped Arrow shards (`cbqa.core.shards`), which the spans store and the passages of a
retrieval index share."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from cbqa.core.errors import CbqaError
from cbqa.core.shards import (
    MappedShard,
    ShardedRows,
    read_metadata,
    read_num_rows,
    shard_index,
    shard_name,
    write_shard,
)


def test_write_map_and_read_rows(tmp_path: Path) -> None:
    schema = pa.schema([("s", pa.string()), ("big", pa.large_string()), ("n", pa.int32())], metadata={"k": "v"})
    path = tmp_path / shard_name(3)
    write_shard(path, {"s": ["a", "", "żółw"], "big": ["x" * 5, "y", ""], "n": [1, 2, 3]}, schema)
    assert shard_index(path.name) == 3 and read_num_rows(path) == 3 and read_metadata(path)[b"k"] == b"v"
    shard = MappedShard(path)
    assert [shard.strings("s")[i] for i in range(3)] == ["a", "", "żółw"]
    assert [shard.strings("big")[i] for i in range(3)] == ["xxxxx", "y", ""]
    assert shard.numpy("n").tolist() == [1, 2, 3]
    assert not list(tmp_path.glob(".*"))  # written atomically: no temporary file left
    path.write_bytes(b"not arrow")
    with pytest.raises(CbqaError, match="cannot read shard"):
        MappedShard(path)


def _name(path: Path) -> str:
    return path.name


def test_sharded_rows_locate_across_empty_shards_open_once_and_pickle_without_views(tmp_path: Path) -> None:
    from copy import deepcopy

    import numpy as np

    opened: list[Path] = []
    rows = ShardedRows([tmp_path / f"{i}" for i in range(4)], [0, 3, 0, 2], lambda p: opened.append(p) or p.name)
    assert len(rows) == 5
    assert [rows.locate(i) for i in range(5)] == [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1)]
    assert rows.shard_of_rows(np.arange(5)).tolist() == [1, 1, 1, 3, 3]
    with pytest.raises(IndexError):
        rows.locate(5)
    for shard in (1, 3, 1, 0, 3):
        rows.view(shard)
    assert [p.name for p in opened] == ["1", "3", "0"] and len(rows._views) == 3  # each opened once, all kept
    picklable = ShardedRows([tmp_path / "a", tmp_path / "b"], [1, 1], _name)
    picklable.view(0)
    # deepcopy goes through the same __reduce_ex__ / __getstate__ that pickling for DataLoader workers and Ray actors
    # uses, without unpickling any bytes
    copy = deepcopy(picklable)
    assert copy._views == {} and copy.view(1) == "b" and len(copy) == 2


def test_mapped_shards_close_their_files_and_pickle_cheaply(tmp_path: Path) -> None:
    import os
    import pickle

    schema = pa.schema([("s", pa.string())])
    paths = [tmp_path / shard_name(i) for i in range(20)]
    for i, path in enumerate(paths):
        write_shard(path, {"s": [f"row {i}"] * 1000}, schema)
    before = len(os.listdir("/proc/self/fd"))
    rows = ShardedRows(paths, [1000] * 20, MappedShard)
    assert [rows.view(i).strings("s")[999] for i in range(20)] == [f"row {i}" for i in range(20)]
    import sys

    kept = len(os.listdir("/proc/self/fd")) - before  # the file each shard was mapped from is closed
    assert kept == (0 if sys.version_info >= (3, 13) else 20)  # older Pythons' mmap keeps a duplicate descriptor
    assert len(pickle.dumps(rows)) < 4000  # paths and sizes, no mapped bytes

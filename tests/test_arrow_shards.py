"""The core's memory-mapped Arrow shards (`cbqa.data.arrow_shards`), which the spans store and the passages of a
retrieval index share."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from cbqa.data.arrow_shards import MappedShard, ShardedRows, read_metadata, read_num_rows, shard_index, shard_name, write_shard
from cbqa.errors import CbqaError


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


def test_sharded_rows_locate_across_empty_shards_and_keep_few_open(tmp_path: Path) -> None:
    opened: list[Path] = []
    rows = ShardedRows([tmp_path / f"{i}" for i in range(4)], [0, 3, 0, 2], lambda p: opened.append(p) or p.name,
                       max_open=2)  # fmt: skip
    assert len(rows) == 5
    assert [rows.locate(i) for i in range(5)] == [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1)]
    assert rows.shard_of_rows(__import__("numpy").arange(5)).tolist() == [1, 1, 1, 3, 3]
    with pytest.raises(IndexError):
        rows.locate(5)
    for shard in (1, 3, 1, 0, 3):
        rows.view(shard)
    assert [p.name for p in opened] == ["1", "3", "0", "3"] and len(rows._views) == 2

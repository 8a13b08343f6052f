"""Passage embeddings on disk: one `.npy` file per shard (float16 or float32), written atomically, memory-mapped.

Index building reads them in chunks (`EmbeddingShards.chunks`) and gathers a training sample by row (`take`), so no
step holds the whole matrix in memory; at most one shard file is open at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.io import atomic_path

EMBEDDINGS_DIR = "embeddings"
DTYPES = ("float32", "float16")


def embedding_shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


def write_embedding_shard(path: str | Path, vectors: np.ndarray, dtype: str) -> None:
    if dtype not in DTYPES:
        raise CbqaError(f"embeddings dtype must be float32 or float16, got {dtype!r}")
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.ascontiguousarray(vectors, dtype=dtype), allow_pickle=False)


def _open(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CbqaError(f"{path}: cannot read embeddings ({e})") from None
    if array.ndim != 2 or array.dtype.name not in DTYPES:
        raise CbqaError(f"{path}: expected a 2-d float16/float32 array, got {array.dtype} {array.shape}")
    return array


def shard_shape(path: str | Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) from the `.npy` header only."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)  # the header, not the data
    except (OSError, ValueError) as e:
        raise CbqaError(f"{path}: cannot read embeddings ({e})") from None
    return shape, dtype.name


def _as_float32(rows: np.ndarray, buffer: np.ndarray | None) -> np.ndarray:
    """`rows` as a C-contiguous float32 array: a new one, or the front of `buffer` overwritten."""
    if buffer is None:
        return np.ascontiguousarray(rows, dtype=np.float32)
    out = buffer[: len(rows)]
    np.copyto(out, rows, casting="same_kind")
    return out


def _chunk_buffer(size: int, dim: int, reuse: bool) -> np.ndarray | None:
    """The one float32 buffer that `chunks(reuse=True)` overwrites for each chunk (None: a new array per chunk)."""
    return np.empty((size, dim), dtype=np.float32) if reuse else None


class EmbeddingShards:
    """The rows of several `.npy` shards as one (n, dim) matrix, read in float32 chunks or by row."""

    def __init__(self, paths: Sequence[str | Path], sizes: Sequence[int] | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        shapes = [shard_shape(p) for p in self.paths]
        dims = {shape[1] for shape, _ in shapes if len(shape) == 2}
        if any(len(shape) != 2 for shape, _ in shapes) or len(dims) > 1:
            raise CbqaError(
                f"{self.paths[0].parent}: embedding shards disagree in shape: {sorted({s for s, _ in shapes})}"
            )
        self.sizes = [shape[0] for shape, _ in shapes]
        if sizes is not None and list(sizes) != self.sizes:
            bad = (
                next(i for i, (a, b) in enumerate(zip(self.sizes, sizes)) if a != b)
                if len(sizes) == len(self.sizes)
                else 0
            )
            raise CbqaError(
                f"{self.paths[bad] if self.paths else 'embeddings'}: embedding shards hold {self.sizes[bad : bad + 1]} "
                f"rows where the passages have {list(sizes)[bad : bad + 1]}"
            )
        self.dim = dims.pop() if dims else 0
        self.dtype = shapes[0][1] if shapes else "float32"
        self.starts = np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)])

    @property
    def n(self) -> int:
        return int(self.starts[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.dim

    def chunks(self, size: int = 65536, reuse: bool = False) -> Iterator[np.ndarray]:
        """Consecutive rows as C-contiguous float32 arrays of at most `size` rows (the last of a shard may be shorter).
        `reuse`: every chunk is a view of one buffer, overwritten by the next, for a consumer that copies what it
        keeps (FAISS's add): a fresh 100 MB array per chunk costs page faults each time, 2-4x the conversion itself."""
        buffer = _chunk_buffer(size, self.dim, reuse)
        for path in self.paths:
            array = _open(path)
            for start in range(0, array.shape[0], size):
                yield _as_float32(array[start : start + size], buffer)
            del array

    def take(self, rows: np.ndarray) -> np.ndarray:
        """float32 rows in the order given (each shard opened once)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        shard_of = np.searchsorted(self.starts[1:], rows, side="right")
        for s in np.unique(shard_of):
            where = np.nonzero(shard_of == s)[0]
            local = rows[where] - self.starts[s]
            order = np.argsort(local, kind="stable")  # read each shard front to back
            out[where[order]] = _open(self.paths[s])[local[order]]
        return out

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.take(np.arange(start, stop))

    def to_array(self) -> np.ndarray:
        """All rows in memory (float32): for small indexes and tests."""
        return np.concatenate(list(self.chunks())) if self.paths else np.zeros((0, self.dim), np.float32)


class ArrayEmbeddings:
    """An in-memory (n, dim) matrix behind the same interface."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.asarray(array)
        if self.array.ndim != 2:
            raise CbqaError(f"embeddings must be a 2-d array, got shape {self.array.shape}")
        self.n, self.dim = self.array.shape
        self.shape = self.array.shape

    def chunks(self, size: int = 65536, reuse: bool = False) -> Iterator[np.ndarray]:
        buffer = _chunk_buffer(size, self.dim, reuse)
        for start in range(0, self.n, size):
            yield _as_float32(self.array[start : start + size], buffer)

    def take(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.array[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def rows(self, start: int, stop: int) -> np.ndarray:
        return np.ascontiguousarray(self.array[start:stop], dtype=np.float32)

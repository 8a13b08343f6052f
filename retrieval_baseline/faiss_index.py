"""FAISS indexes (flat, IVF-Flat, HNSW, IVF-PQ), built and searched on a GPU when faiss-gpu sees one.

Indexes are made with `faiss.index_factory` strings (the same names Pyserini's and FAISS's docs use), so a
spec maps one-to-one onto a documented FAISS index. HNSW has no FAISS GPU implementation and stays on CPU.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from cbqa.errors import CbqaError
from retrieval_baseline.progress import progress_bar

IndexType = Literal["flat", "ivf", "hnsw", "ivfpq"]
INDEX_TYPES: tuple[str, ...] = ("flat", "ivf", "hnsw", "ivfpq")
_METRICS = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}


@dataclass(frozen=True)
class IndexSpec:
    type: IndexType = "flat"
    metric: Literal["ip", "l2"] = "ip"  # inner product; on normalised embeddings that is cosine
    nlist: int | None = None  # IVF cells; None = min(4*sqrt(n), n/39), FAISS's rule of thumb
    nprobe: int = 16  # IVF cells visited per query (search time)
    hnsw_m: int = 32  # HNSW links per node
    ef_construction: int = 200
    ef_search: int = 128  # HNSW candidate list per query (search time)
    pq_m: int | None = None  # PQ sub-quantizers, must divide the dimension; None = dim/8 (8 dims per code byte)
    pq_nbits: int = 8  # bits per sub-quantizer code

    def __post_init__(self) -> None:
        if self.type not in INDEX_TYPES:
            raise CbqaError(f"unknown index type {self.type!r}; choose one of {', '.join(INDEX_TYPES)}")
        if self.metric not in _METRICS:
            raise CbqaError(f"unknown metric {self.metric!r}; choose ip or l2")
        for name in ("nlist", "nprobe", "hnsw_m", "ef_construction", "ef_search", "pq_m", "pq_nbits"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CbqaError(f"index parameter {name} must be >= 1, got {value}")

    def params(self) -> dict[str, Any]:
        """Only the parameters that matter for this index type (what the manifest records)."""
        keep = {"flat": (), "ivf": ("nlist", "nprobe"), "hnsw": ("hnsw_m", "ef_construction", "ef_search"),
                "ivfpq": ("nlist", "nprobe", "pq_m", "pq_nbits")}[self.type]
        return {k: v for k, v in asdict(self).items() if k in keep}


def auto_nlist(n: int) -> int:
    return max(1, min(int(4 * math.sqrt(n)), n // 39))


def auto_pq_m(dim: int) -> int:
    """The largest divisor of `dim` up to dim/8: about 8 dimensions per one-byte code, as in Pyserini's DPR PQ index."""
    return max(m for m in range(1, max(dim // 8, 1) + 1) if dim % m == 0)


def resolved(spec: IndexSpec, n: int, dim: int) -> IndexSpec:
    """`spec` with the data-dependent defaults (nlist, pq_m) filled in, as the manifest records them."""
    return replace(spec, nlist=spec.nlist or auto_nlist(n) if spec.type in ("ivf", "ivfpq") else spec.nlist,
                   pq_m=spec.pq_m or auto_pq_m(dim) if spec.type == "ivfpq" else spec.pq_m)


def factory_string(spec: IndexSpec, n: int, dim: int) -> str:
    s = resolved(spec, n, dim)
    return {
        "flat": "Flat",
        "ivf": f"IVF{s.nlist},Flat",
        "hnsw": f"HNSW{s.hnsw_m},Flat",
        "ivfpq": f"IVF{s.nlist},PQ{s.pq_m}x{s.pq_nbits}",
    }[s.type]


def _check_buildable(spec: IndexSpec, n: int, dim: int) -> None:
    nlist = spec.nlist or auto_nlist(n)
    if spec.type in ("ivf", "ivfpq") and n < nlist:
        raise CbqaError(f"IVF with nlist={nlist} needs at least {nlist} vectors to train, got {n}; lower --nlist")
    if spec.type == "ivfpq":
        if dim % (spec.pq_m or auto_pq_m(dim)):
            raise CbqaError(f"IVF-PQ: --pq-m {spec.pq_m} must divide the embedding dimension {dim}")
        if n < 2**spec.pq_nbits:
            raise CbqaError(f"IVF-PQ with --pq-nbits {spec.pq_nbits} needs >= {2**spec.pq_nbits} vectors to train, got {n}")


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class FaissIndex:
    """A FAISS index plus where it runs. `cpu_index` is what gets saved; `index` is what gets searched."""

    def __init__(self, cpu_index: faiss.Index, spec: IndexSpec, use_gpu: bool | None = None) -> None:
        self.cpu_index = cpu_index
        self.spec = spec
        self.index = cpu_index
        self._gpu_resources = None  # must outlive the GPU index that uses it
        want_gpu = gpu_available() if use_gpu is None else use_gpu
        if want_gpu and spec.type != "hnsw":
            self._to_gpu()
        self.set_search_params(nprobe=spec.nprobe, ef_search=spec.ef_search)

    @property
    def on_gpu(self) -> bool:
        return self._gpu_resources is not None

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def _to_gpu(self) -> None:
        if not gpu_available():
            raise CbqaError("a GPU index was asked for, but faiss has no GPU support here (install faiss-gpu)")
        res = faiss.StandardGpuResources()
        try:
            self.index = faiss.index_cpu_to_gpu(res, 0, self.cpu_index)
        except RuntimeError as e:  # e.g. a PQ code size the GPU kernels don't support
            print(f"faiss: keeping the {self.spec.type} index on CPU ({str(e).splitlines()[0]})", file=sys.stderr)
            return
        self._gpu_resources = res

    def set_search_params(self, nprobe: int | None = None, ef_search: int | None = None) -> None:
        space = faiss.GpuParameterSpace() if self.on_gpu else faiss.ParameterSpace()
        if nprobe is not None and self.spec.type in ("ivf", "ivfpq"):
            space.set_index_parameter(self.index, "nprobe", nprobe)
        if ef_search is not None and self.spec.type == "hnsw":
            space.set_index_parameter(self.index, "efSearch", ef_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row indices), each (n_queries, k); rows are -1 where fewer than k vectors qualify."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise CbqaError(f"query vectors have shape {queries.shape}, the index expects (n, {self.dim})")
        return self.index.search(queries, min(k, max(self.ntotal, 1)))

    def sync_to_cpu(self) -> None:
        if self.on_gpu:
            self.cpu_index = faiss.index_gpu_to_cpu(self.index)

    def save(self, path: str | Path) -> None:
        self.sync_to_cpu()
        faiss.write_index(self.cpu_index, str(path))


def build_faiss_index(
    vectors: np.ndarray, spec: IndexSpec, use_gpu: bool | None = None, show_progress: bool = True, seed: int = 0
) -> FaissIndex:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if n == 0:
        raise CbqaError("no vectors to index (is the corpus empty?)")
    _check_buildable(spec, n, dim)
    spec = resolved(spec, n, dim)
    cpu = faiss.index_factory(dim, factory_string(spec, n, dim), _METRICS[spec.metric])
    if spec.type == "hnsw":
        cpu.hnsw.efConstruction = spec.ef_construction
    idx = FaissIndex(cpu, spec, use_gpu=use_gpu)
    if not idx.index.is_trained:
        # FAISS's k-means uses at most 256 points per centroid; sampling that many keeps training time bounded.
        cap = 256 * max(spec.nlist or 1, 2**spec.pq_nbits if spec.type == "ivfpq" else 0)
        train = vectors if n <= cap else vectors[np.random.default_rng(seed).choice(n, cap, replace=False)]
        idx.index.train(train)
    chunk = 65536
    with progress_bar(f"adding to {spec.type} index", total=n, enabled=show_progress) as advance:
        for start in range(0, n, chunk):
            idx.index.add(vectors[start : start + chunk])
            advance(min(chunk, n - start))
    idx.sync_to_cpu()
    return idx


def read_faiss_index(path: str | Path, spec: IndexSpec, use_gpu: bool | None = None) -> FaissIndex:
    return FaissIndex(faiss.read_index(str(path)), spec, use_gpu=use_gpu)

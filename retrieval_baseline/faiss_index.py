"""FAISS indexes (flat, IVF-Flat, HNSW, IVF-PQ), built in bounded memory from memory-mapped embedding shards, and
built and searched on all GPUs when faiss-gpu sees some.

Indexes are made with `faiss.index_factory` strings (the same names Pyserini's and FAISS's docs use), so a
spec maps one-to-one onto a documented FAISS index. HNSW has no FAISS GPU implementation and stays on CPU.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import faiss
import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.io import atomic_path
from cbqa.core.progress import progress_bar

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
        keep = {
            "flat": (),
            "ivf": ("nlist", "nprobe"),
            "hnsw": ("hnsw_m", "ef_construction", "ef_search"),
            "ivfpq": ("nlist", "nprobe", "pq_m", "pq_nbits"),
        }[self.type]
        return {k: v for k, v in asdict(self).items() if k in keep}


def auto_nlist(n: int) -> int:
    return max(1, min(int(4 * math.sqrt(n)), n // 39))


def auto_pq_m(dim: int) -> int:
    """The largest divisor of `dim` up to dim/8: about 8 dimensions per one-byte code, as in Pyserini's DPR PQ index."""
    return max(m for m in range(1, max(dim // 8, 1) + 1) if dim % m == 0)


def resolved(spec: IndexSpec, n: int, dim: int) -> IndexSpec:
    """`spec` with the data-dependent defaults (nlist, pq_m) filled in, as the manifest records them."""
    return replace(
        spec,
        nlist=spec.nlist or auto_nlist(n) if spec.type in ("ivf", "ivfpq") else spec.nlist,
        pq_m=spec.pq_m or auto_pq_m(dim) if spec.type == "ivfpq" else spec.pq_m,
    )


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
            raise CbqaError(
                f"IVF-PQ with --pq-nbits {spec.pq_nbits} needs >= {2**spec.pq_nbits} vectors to train, got {n}"
            )


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class FaissIndex:
    """A FAISS index plus where it runs. `cpu_index` is what gets saved; `index` is what gets searched.

    On GPUs (faiss-gpu), flat, IVF and IVF-PQ indexes are sharded over all visible GPUs (`index_cpu_to_all_gpus` with
    `shard=True`: each GPU holds 1/N of the vectors, a query goes to all and the results are merged); HNSW has no GPU
    implementation and stays on CPU. Whatever ran where, the index is saved in CPU format, so it loads anywhere.
    """

    def __init__(self, cpu_index: faiss.Index, spec: IndexSpec, use_gpu: bool | None = None) -> None:
        self.cpu_index = cpu_index
        self.spec = spec
        self.index = cpu_index
        self.gpus = 0  # GPUs the index is sharded over (0: on CPU)
        want_gpu = gpu_available() if use_gpu is None else use_gpu
        if want_gpu and spec.type != "hnsw":
            self._to_gpu()
        self.set_search_params(nprobe=spec.nprobe, ef_search=spec.ef_search)

    @property
    def on_gpu(self) -> bool:
        return self.gpus > 0

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def _to_gpu(self) -> None:
        if not gpu_available():
            raise CbqaError("a GPU index was asked for, but faiss has no GPU support here (install faiss-gpu)")
        options = faiss.GpuMultipleClonerOptions()
        options.shard = True  # split the vectors over the GPUs instead of copying all of them to each
        options.common_ivf_quantizer = True  # IVF: one coarse quantizer for all shards (it is trained already)
        try:
            self.index = faiss.index_cpu_to_all_gpus(self.cpu_index, co=options)
        except RuntimeError as e:  # e.g. a PQ code size the GPU kernels don't support
            print(f"faiss: keeping the {self.spec.type} index on CPU ({str(e).splitlines()[0]})", file=sys.stderr)
            return
        self.gpus = faiss.get_num_gpus()

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
        """The searched index as one CPU index (FAISS's GPU-to-CPU cloner merges the GPU shards into one)."""
        if self.on_gpu:
            self.cpu_index = faiss.index_gpu_to_cpu(self.index)

    def save(self, path: str | Path) -> None:
        self.sync_to_cpu()
        with atomic_path(path) as tmp:
            faiss.write_index(self.cpu_index, str(tmp))


class Embeddings(Protocol):
    """An (n, dim) matrix read in float32 chunks or by row: `EmbeddingShards` (memory-mapped) or `ArrayEmbeddings`."""

    n: int
    dim: int

    def chunks(self, size: int = ..., reuse: bool = ...) -> Iterator[np.ndarray]: ...

    def take(self, rows: np.ndarray) -> np.ndarray: ...


# FAISS's k-means samples at most 256 points per centroid and warns under 39; the sample is also kept under this many
# bytes (float32), so training memory does not grow with the corpus: at 384-d that is 350k vectors.
TRAIN_SAMPLE_BYTES = 512 * 2**20
ADD_CHUNK = 65536


def training_rows(n: int, dim: int, spec: IndexSpec, seed: int = 0) -> np.ndarray | None:
    """The rows an index is trained on (None: all of them, in order): a seeded sample when there are more than
    256 per centroid (and more than fit in TRAIN_SAMPLE_BYTES, though never under 39 per centroid)."""
    centroids = max(spec.nlist or 1, 2**spec.pq_nbits if spec.type == "ivfpq" else 0)
    cap = 256 * centroids
    cap = min(cap, max(39 * centroids, TRAIN_SAMPLE_BYTES // (4 * dim)))
    return None if n <= cap else np.random.default_rng(seed).choice(n, cap, replace=False)


def _fill_flat(index: faiss.Index, vectors: Embeddings, advance) -> float:
    """Fill a CPU flat index in place: its code buffer is sized once and the chunks are copied straight into it, so
    the build holds the index and one chunk, never a second copy of the codes (which growing the buffer by
    `add` would make while it reallocates). Returns the seconds spent sizing (and so first touching) the buffer."""
    n, size = vectors.n, index.code_size
    t0 = time.perf_counter()
    index.codes.resize(n * size)
    allocate = time.perf_counter() - t0
    view = faiss.rev_swig_ptr(index.codes.data(), n * size).view(np.float32).reshape(n, index.d)
    start = 0
    for chunk in vectors.chunks(ADD_CHUNK, reuse=True):
        view[start : start + len(chunk)] = chunk
        start += len(chunk)
        advance(len(chunk))
    index.ntotal = n
    return allocate


def _fill_ivf(index: faiss.Index, vectors: Embeddings, advance) -> float:
    """Fill a trained, empty CPU IVF index (IVF-Flat or IVF-PQ) in two passes: first assign every vector to its cell
    (the coarse-quantizer search that `add` makes anyway) and reserve each cell's inverted list at its final size,
    then add the chunks with those assignments (`add_core`). Grown by plain `add`, each list is reallocated and copied
    every time it doubles: at 2M x 384 that cost a quarter of the add time and 0.8 GB of memory above the final index
    (`bench/scale_retrieval.py`), and on a VM every reallocation touches pages the host may have to supply afresh.
    Returns the seconds spent reserving (and so first touching) the lists' memory."""
    ivf = faiss.extract_index_ivf(index)
    lists = faiss.downcast_InvertedLists(ivf.invlists)
    if not isinstance(lists, faiss.ArrayInvertedLists) or ivf.ntotal:  # not what index_factory makes: plain add
        for chunk in vectors.chunks(ADD_CHUNK, reuse=True):
            index.add(chunk)
            advance(2 * len(chunk))
        return 0.0
    cells = np.empty(vectors.n, dtype=np.int64)  # 8 bytes a vector: 170 MB at 21M
    start = 0
    for chunk in vectors.chunks(ADD_CHUNK, reuse=True):
        cells[start : start + len(chunk)] = ivf.quantizer.assign(chunk, 1)[:, 0]
        start += len(chunk)
        advance(len(chunk))
    t0 = time.perf_counter()
    for cell, count in enumerate(np.bincount(cells, minlength=ivf.nlist)):
        lists.resize(cell, int(count))  # std::vector keeps its capacity when shrunk: the list is reserved
        lists.resize(cell, 0)
    allocate = time.perf_counter() - t0
    start = 0
    for chunk in vectors.chunks(ADD_CHUNK, reuse=True):
        part = cells[start : start + len(chunk)]
        ivf.add_core(len(chunk), faiss.swig_ptr(chunk), None, faiss.swig_ptr(part))
        start += len(chunk)
        advance(len(chunk))
    index.ntotal = ivf.ntotal
    return allocate


def _train(cpu: faiss.Index, sample: np.ndarray, gpu: bool) -> faiss.Index:
    """Train on one GPU when there is one (k-means is the slow part), else on CPU; returns the trained CPU index."""
    if not gpu:
        cpu.train(sample)
        return cpu
    res = faiss.StandardGpuResources()
    on_gpu = faiss.index_cpu_to_gpu(res, 0, cpu)
    on_gpu.train(sample)
    return faiss.index_gpu_to_cpu(on_gpu)


def build_faiss_index(
    vectors: np.ndarray | Embeddings,
    spec: IndexSpec,
    use_gpu: bool | None = None,
    show_progress: bool = True,
    seed: int = 0,
    timings: dict[str, float] | None = None,
) -> FaissIndex:
    """Build `spec` over `vectors` (an array, or memory-mapped embedding shards), in bounded memory: trained on a sample
    (`training_rows`), filled chunk by chunk; the resulting index is the only thing that grows with the corpus.
    `timings` receives the seconds spent training ("train") and adding ("add"), and of the adding, those spent sizing
    the index's memory ("allocate": its first touch, whose cost depends on the machine more than on FAISS)."""
    timings = {} if timings is None else timings
    from retrieval_baseline.embeddings import ArrayEmbeddings

    source = ArrayEmbeddings(vectors) if isinstance(vectors, np.ndarray) else vectors
    n, dim = source.n, source.dim
    if n == 0:
        raise CbqaError("no vectors to index (is the corpus empty?)")
    _check_buildable(spec, n, dim)
    spec = resolved(spec, n, dim)
    cpu = faiss.index_factory(dim, factory_string(spec, n, dim), _METRICS[spec.metric])
    if spec.type == "hnsw":
        cpu.hnsw.efConstruction = spec.ef_construction
    if use_gpu and not gpu_available():  # before training, which would also try the GPU
        raise CbqaError("a GPU index was asked for, but faiss has no GPU support here (install faiss-gpu)")
    gpu = (gpu_available() if use_gpu is None else use_gpu) and spec.type != "hnsw"
    t0 = time.perf_counter()
    if not cpu.is_trained:
        rows = training_rows(n, dim, spec, seed)
        cpu = _train(cpu, source.take(np.arange(n) if rows is None else rows), gpu)
    timings["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx = FaissIndex(cpu, spec, use_gpu=gpu)  # trained first, so every GPU shard shares the same quantizer
    two_pass = spec.type in ("ivf", "ivfpq") and not idx.on_gpu
    with progress_bar(f"adding to {spec.type} index", total=2 * n if two_pass else n, enabled=show_progress) as advance:
        allocate = 0.0
        if spec.type == "flat" and not idx.on_gpu:
            allocate = _fill_flat(idx.index, source, advance)
        elif two_pass:
            allocate = _fill_ivf(idx.index, source, advance)
        else:
            for chunk in source.chunks(ADD_CHUNK, reuse=True):
                idx.index.add(chunk)
                advance(len(chunk))
    idx.sync_to_cpu()
    timings["add"] = time.perf_counter() - t0
    timings["allocate"] = allocate
    return idx


MMAP_AUTO_BYTES = 1 << 30  # indexes at least this large are memory-mapped by default when searched on the CPU


def auto_mmap(path: str | Path, use_gpu: bool | None) -> bool:
    """Whether to map rather than read an index by default: when it is searched on the CPU and its file holds at least
    `MMAP_AUTO_BYTES`. Reading a large index costs ~1 s per GB and as much private memory in every process; mapping it
    costs neither (the pages live in the page cache, shared, and a search runs at the same speed once they are there)."""
    on_gpu = gpu_available() if use_gpu is None else use_gpu
    return not on_gpu and Path(path).stat().st_size >= MMAP_AUTO_BYTES


def read_faiss_index(
    path: str | Path, spec: IndexSpec, use_gpu: bool | None = None, mmap: bool | None = False
) -> FaissIndex:
    """Read a saved index; `mmap` maps it from the file instead of reading it (FAISS's IO_FLAG_MMAP for IVF lists,
    IO_FLAG_MMAP_IFC for flat storage, HNSW's included): opening costs no time and no memory, and the pages a search
    touches are read then, through the page cache. `mmap=None` decides by `auto_mmap`."""
    if mmap is None:
        mmap = auto_mmap(path, use_gpu)
    flags = 0
    if mmap:  # the two flags do not combine (FAISS 1.15): IVF lists map with one, flat storage with the other
        flags = (
            faiss.IO_FLAG_MMAP if spec.type in ("ivf", "ivfpq") else faiss.IO_FLAG_MMAP_IFC
        ) | faiss.IO_FLAG_READ_ONLY
    try:
        index = faiss.read_index(str(path), flags)
    except RuntimeError as e:
        raise CbqaError(f"{path}: cannot read the FAISS index ({str(e).strip().splitlines()[-1][:200]})") from None
    return FaissIndex(index, spec, use_gpu=False if mmap else use_gpu)

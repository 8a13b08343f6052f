"""Building an index directory at any scale: sharded, resumable, in bounded memory.

The corpus is planned in shards of `shard_size` documents (`cbqa.core.formats.corpus.scan_corpus`: validated once, each
shard's byte offset or row recorded). Shard `j` becomes two files in a work directory next to the index
(`.NAME.build/`), each written atomically:

    passages/shard-0000j.arrow     the shard's passages (id, title, text), the store the index keeps
    embeddings/shard-0000j.npy     their embeddings, float32 (the index is built from what the encoder gave;
                                   --save-embeddings float16 converts the copy kept once the index is built)

so a killed build resumes at the first shard without its files, and encoding a shard twice gives the same bytes.
Shards can be encoded by N machines at once (`shard=ShardSpec(i, N)`: machine i does the shards j with j % N == i,
the work directory on shared storage), or by Ray Data actors (`engine="ray"`, GPU actors where the cluster has
GPUs: `cbqa.core.ray_engine`, the engine `cbqa ner --engine ray` uses). Once every shard is there, the FAISS index
is trained on a sample and filled chunk by chunk from the memory-mapped embedding shards (`build_faiss_index`), BM25
is built if asked, the manifest written, and the work directory is published as the index (`cbqa.core.io.replace_dir`).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cbqa.core.contracts import write_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats.corpus import CorpusShard, Document, read_corpus_slice, scan_corpus
from cbqa.core.formats.jsonl import write_json
from cbqa.core.io import fingerprint_chunks, remove_tree, replace_dir
from cbqa.core.progress import progress_bar
from cbqa.core.shards import MappedShard, shard_name
from retrieval_baseline.bm25 import BM25Config, BM25Index
from retrieval_baseline.embeddings import (
    EMBEDDINGS_DIR,
    ArrayEmbeddings,
    EmbeddingShards,
    embedding_shard_name,
    write_embedding_shard,
)
from retrieval_baseline.encoders import Encoder, EncoderConfig, canonical_name, load_encoder
from retrieval_baseline.faiss_index import Embeddings, IndexSpec, build_faiss_index, factory_string
from retrieval_baseline.index_dir import (
    BM25_DIR,
    FAISS_FILE,
    FORMAT,
    MANIFEST,
    VERSION,
    IndexManifest,
    embedding_shards,
    load_index,
    read_manifest,
)
from retrieval_baseline.passage_store import PASSAGES_DIR, PassageStore, passage_shard_rows, write_passage_shard
from retrieval_baseline.passages import Passage, SplitConfig, split_corpus
from retrieval_baseline.retriever import RetrievalIndex

WORK_FORMAT = "cbqa-index-build/1"
DEFAULT_SHARD_SIZE = 10_000
ENGINES = ("local", "ray")
ENCODE_DTYPE = "float32"  # embeddings are written, and indexed, as the encoder gives them
_BUILD, _PLAN = "build.json", "plan.json"


@dataclass(frozen=True)
class ShardSpec:
    """`--shard i/N`: this machine handles the shards j with j % N == i."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise CbqaError(f"--shard {self.index}/{self.count}: need 0 <= i < N")

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise CbqaError(f"--shard must look like i/N (e.g. 0/4), got {text!r}") from None
        return cls(i, n)

    def owns(self, shard: int) -> bool:
        return shard % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def work_dir(out: str | Path) -> Path:
    """Where the shards of the index `out` are built (a hidden sibling, on the same storage as `out`)."""
    out = Path(out)
    return out.parent / f".{out.name}.build"


# -- the corpus, in shards -------------------------------------------------------------------------------------------


@dataclass
class CorpusPlan:
    source: str | None  # the corpus path; None for documents given in memory
    fingerprint: str  # cbqa.core.io.fingerprint of the corpus file (of the documents' JSON for in-memory ones)
    shards: list[CorpusShard]
    docs: list[Document] | None = None  # in-memory documents

    def read(self, shard: CorpusShard) -> list[Document]:
        if self.docs is not None:
            return self.docs[shard.start : shard.start + shard.count]
        assert self.source is not None
        return read_corpus_slice(self.source, shard)


def _stat_key(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def plan_corpus(corpus: str | Path | Sequence[Document], shard_size: int, work: Path | None = None) -> CorpusPlan:
    """Shards of `shard_size` documents. A corpus file is validated and fingerprinted once (`scan_corpus`); the plan is
    kept in the work directory and reused while the file's size and modification time are unchanged."""
    if shard_size < 1:
        raise CbqaError(f"shard size must be >= 1, got {shard_size}")
    if not isinstance(corpus, (str, Path)):
        docs = list(corpus)
        seen: set[str] = set()
        for d in docs:
            if d.id in seen:
                raise CbqaError(f"document id {d.id!r} occurs twice: document ids must be unique")
            seen.add(d.id)
        fp = fingerprint_chunks((json.dumps(d.to_json(), ensure_ascii=False) + "\n").encode() for d in docs)
        shards = [
            CorpusShard(i, s, min(shard_size, len(docs) - s)) for i, s in enumerate(range(0, len(docs), shard_size))
        ]
        return CorpusPlan(None, fp, shards, docs)
    path = Path(corpus)
    cached = work / _PLAN if work is not None else None
    if cached is not None and cached.is_file() and path.exists():
        try:
            plan = json.loads(cached.read_text(encoding="utf-8"))
            if plan["stat"] == _stat_key(path) and plan["shard_size"] == shard_size:
                return CorpusPlan(str(path), plan["fingerprint"], [CorpusShard(**s) for s in plan["shards"]])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not a plan this code wrote: scan again
    scan = scan_corpus(path, shard_size)
    return CorpusPlan(str(path), scan.fingerprint, scan.shards)


def _save_plan(work: Path, plan: CorpusPlan, shard_size: int) -> None:
    if plan.source is not None:
        write_json(
            work / _PLAN,
            {
                "stat": _stat_key(Path(plan.source)),
                "shard_size": shard_size,
                "fingerprint": plan.fingerprint,
                "shards": [asdict(s) for s in plan.shards],
            },
        )


# -- identity of a build ---------------------------------------------------------------------------------------------


def encoder_identity(encoder: EncoderConfig | Encoder) -> dict[str, Any]:
    """What decides the embeddings: the canonical model name, normalisation and (for a config) the token limit."""
    if isinstance(encoder, EncoderConfig):
        name = canonical_name(encoder.name)
        normalize = encoder.normalize if encoder.normalize is not None else not name.startswith("dpr:")
        return {"name": name, "normalize": normalize, "max_length": encoder.max_length}
    return {"name": encoder.name, "normalize": encoder.normalize, "max_length": None}


def _open_work(work: Path, identity: dict[str, Any], refuse_other: bool) -> bool:
    """Create the work directory, or continue the one there when it was started with the same identity (True).

    An unfinished build with other settings is discarded (it is only a cache of work), except when `refuse_other`:
    with --shard i/N other machines may be writing into it, so a mismatch is an error there.
    """
    build = work / _BUILD
    if work.exists():
        try:
            old = json.loads(build.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old != identity:
            diffs = [k for k in identity if not isinstance(old, dict) or old.get(k) != identity[k]]
            if refuse_other:
                raise CbqaError(
                    f"{work} holds an unfinished build with other settings ({', '.join(diffs)}); "
                    "give every machine the same options, or pass --overwrite to discard it"
                )
            print(f"discarding an unfinished build with other settings ({', '.join(diffs)}) in {work}", file=sys.stderr)
            shutil.rmtree(work)
    existed = work.exists()
    encoded = work / f"{EMBEDDINGS_DIR}.encoded"  # a build killed while swapping in its converted embeddings
    if encoded.is_dir() and not (work / EMBEDDINGS_DIR).exists():
        encoded.rename(work / EMBEDDINGS_DIR)
    (work / PASSAGES_DIR).mkdir(parents=True, exist_ok=True)
    (work / EMBEDDINGS_DIR).mkdir(parents=True, exist_ok=True)
    if not build.exists():
        write_json(build, identity)
    return existed


# -- one shard -------------------------------------------------------------------------------------------------------


def _read_passage_shard(path: Path) -> list[Passage]:
    shard = MappedShard(path, "passage shard")
    ids, titles, texts = (shard.strings(k) for k in ("id", "title", "text"))
    return [Passage(ids[i], titles[i], texts[i]) for i in range(shard.rows)]


def _encode(encoder: Encoder, passages: list[Passage]) -> np.ndarray:
    if not passages:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    vectors = np.asarray(encoder.encode_passages(passages))
    if vectors.shape != (len(passages), encoder.dim):
        raise CbqaError(
            f"encoder {encoder.name!r} returned shape {vectors.shape} for {len(passages)} passages, "
            f"expected ({len(passages)}, {encoder.dim})"
        )
    return vectors


def process_shard(
    work: Path,
    index: int,
    docs: Callable[[], list[Document]],
    split: SplitConfig,
    encoder: Callable[[], Encoder] | None,
    dtype: str,
) -> int:
    """Split (unless its passages are there) and encode (unless its embeddings are there, or `encoder` is None) one
    shard; returns its number of passages. The same function runs in this process and in Ray actors."""
    p_path = work / PASSAGES_DIR / shard_name(index)
    e_path = work / EMBEDDINGS_DIR / embedding_shard_name(index)
    if p_path.exists():
        passages = _read_passage_shard(p_path)
    else:
        passages = list(split_corpus(docs(), split))
        write_passage_shard(p_path, passages)
    if encoder is not None and not e_path.exists():
        write_embedding_shard(e_path, _encode(encoder(), passages), dtype)
    return len(passages)


class EncodeShardActor:
    """A Ray actor: one encoder, splitting and encoding whole shards into the (shared) work directory."""

    def __init__(self, corpus: str, work: str, split: dict[str, Any], encoder: dict[str, Any], dtype: str) -> None:
        self.corpus, self.work, self.dtype = corpus, Path(work), dtype
        self.split = SplitConfig(**split)
        self.encoder = load_encoder(EncoderConfig(**encoder))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {"index": [], "passages": []}
        for i in range(len(batch["index"])):
            shard = CorpusShard(**{k: int(batch[k][i]) for k in ("index", "start", "count", "offset", "line")})
            n = process_shard(
                self.work,
                shard.index,
                lambda: read_corpus_slice(self.corpus, shard),  # noqa: B023 (called within this iteration)
                self.split,
                lambda: self.encoder,
                self.dtype,
            )
            out["index"].append(shard.index)
            out["passages"].append(n)
        return out


# -- engines ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    engine: str = "local"
    ray_address: str | None = None  # None: start a local Ray; "auto" or "ray://host:port": join a cluster
    workers: int | None = None  # Ray actors (default: one per GPU of the cluster, else 1)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise CbqaError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.ray_address and self.engine != "ray":
            raise CbqaError("--ray-address needs --engine ray")
        if self.workers is not None and self.workers < 1:
            raise CbqaError(f"--workers must be >= 1, got {self.workers}")


def _local_engine(
    plan: CorpusPlan,
    pending: list[CorpusShard],
    work: Path,
    split: SplitConfig,
    encoder: Callable[[], Encoder] | None,
    dtype: str,
) -> Iterator[CorpusShard]:
    for shard in pending:
        process_shard(work, shard.index, lambda: plan.read(shard), split, encoder, dtype)  # noqa: B023 (called within this iteration)
        yield shard


def _ray_engine(
    plan: CorpusPlan,
    pending: list[CorpusShard],
    work: Path,
    split: SplitConfig,
    encoder: EncoderConfig | Encoder,
    dtype: str,
    config: EngineConfig,
) -> Iterator[CorpusShard]:
    from cbqa.core.ray_engine import cluster_gpus, map_shards, start_ray

    if plan.source is None:
        raise CbqaError("--engine ray reads the corpus from a file every worker can open; got documents in memory")
    if not isinstance(encoder, EncoderConfig):
        raise CbqaError("--engine ray loads the encoder in each worker by name; got an encoder object")
    if not pending:
        return
    ray = start_ray(config.ray_address, config.workers or 1)
    gpus = cluster_gpus(ray)
    name = str(Path(encoder.name).resolve()) if Path(encoder.name).exists() else encoder.name
    kwargs = {
        "corpus": str(Path(plan.source).resolve()),
        "work": str(work.resolve()),
        "split": asdict(split),
        "encoder": asdict(replace(encoder, name=name, show_progress=False)),
        "dtype": dtype,
    }
    by_index = {s.index: s for s in pending}
    rows = map_shards(
        ray,
        EncodeShardActor,
        [asdict(s) for s in pending],
        kwargs,
        concurrency=config.workers or max(gpus, 1),
        num_cpus=1,
        num_gpus=1 if gpus else 0,
    )
    for row in rows:
        yield by_index[int(row["index"])]


# -- the whole build -------------------------------------------------------------------------------------------------


@dataclass
class EncodeReport:
    work: Path
    shards: int  # in the plan
    done: list[int]  # shard indexes whose files exist now
    this_run: int  # shards this call split and encoded
    resumed_from: int  # shards that were already done when it started


def encode_corpus(
    corpus: str | Path | Sequence[Document],
    out: str | Path,
    encoder: EncoderConfig | Encoder | str = "default",
    split: SplitConfig = SplitConfig(),
    dtype: str = "float32",
    shard_size: int = DEFAULT_SHARD_SIZE,
    shard: ShardSpec | None = None,
    engine: EngineConfig = EngineConfig(),
    overwrite: bool = False,
    encode: bool = True,
    show_progress: bool = True,
) -> tuple[CorpusPlan, EncodeReport, Encoder | None]:
    """Split and encode the shards of the corpus (those `shard` owns, or all) into the work directory of `out`.
    Returns the plan, what was done, and the encoder if it had to be loaded."""
    out = Path(out)
    work = work_dir(out)
    if isinstance(encoder, str):
        encoder = EncoderConfig(name=encoder)
    plan = plan_corpus(corpus, shard_size, work)  # validates the corpus before anything is written
    identity = {
        "format": WORK_FORMAT,
        "corpus": plan.fingerprint,
        "shard_size": shard_size,
        "split": asdict(split),
        "encoder": encoder_identity(encoder) if encode else None,
        "dtype": dtype,
    }
    resuming = _open_work(work, identity, refuse_other=shard is not None and not overwrite)
    _save_plan(work, plan, shard_size)
    mine = [s for s in plan.shards if shard is None or shard.owns(s.index)]

    def finished(j: int) -> bool:
        return (work / PASSAGES_DIR / shard_name(j)).exists() and (
            not encode or (work / EMBEDDINGS_DIR / embedding_shard_name(j)).exists()
        )

    done = {s.index for s in plan.shards if finished(s.index)}
    pending = [s for s in mine if s.index not in done]
    before = len(done)
    if resuming and pending and done:
        print(f"resuming {work}: {len(done)} of {len(plan.shards)} shards already done", file=sys.stderr)

    loaded: list[Encoder] = []

    def get_encoder() -> Encoder:
        if not loaded:
            loaded.append(
                load_encoder(replace(encoder, show_progress=False)) if isinstance(encoder, EncoderConfig) else encoder
            )
        return loaded[0]

    total = sum(s.count for s in pending)
    what = "encoding" if encode else "splitting"
    with progress_bar(
        f"{what} {len(pending)} shards ({engine.engine})", total=total, enabled=show_progress and total > 0
    ) as advance:
        if engine.engine == "ray" and encode:
            finished = _ray_engine(plan, pending, work, split, encoder, dtype, engine)
        else:
            finished = _local_engine(plan, pending, work, split, get_encoder if encode else None, dtype)
        for s in finished:
            done.add(s.index)
            advance(s.count)
    report = EncodeReport(work, len(plan.shards), sorted(done), len(pending), before)
    return plan, report, loaded[0] if loaded else None


def build_index(
    corpus: str | Path | Sequence[Document],
    out: str | Path,
    encoder: EncoderConfig | Encoder | str = "default",
    spec: IndexSpec = IndexSpec(),
    split: SplitConfig = SplitConfig(),
    bm25: BM25Config | bool = False,
    embeddings: np.ndarray | Embeddings | None = None,
    embeddings_from: str | Path | None = None,
    save_embeddings: str | None = None,
    overwrite: bool = False,
    use_gpu: bool | None = None,
    show_progress: bool = True,
    shard_size: int = DEFAULT_SHARD_SIZE,
    engine: EngineConfig = EngineConfig(),
) -> RetrievalIndex:
    """Split, encode, index and publish `out/`; returns the index, ready to search with the same encoder.

    Resumes a killed build of the same settings (shard by shard). `embeddings` (rows aligned with the passages: an
    array, or memory-mapped `EmbeddingShards`) skips encoding, as does `embeddings_from` (an index dir with stored
    embeddings of the same encoder and passages; its shard files are hard-linked when the layout and dtype agree);
    `save_embeddings` ("float32"/"float16") keeps them in the new directory.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise CbqaError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it")
    if out.exists() and not (out / MANIFEST).exists() and (not out.is_dir() or any(out.iterdir())):
        raise CbqaError(f"{out} exists and is not an index directory; refusing to replace it")
    if save_embeddings not in (None, "float32", "float16"):
        raise CbqaError(f"save_embeddings must be float32 or float16, got {save_embeddings!r}")
    if isinstance(encoder, str):
        encoder = EncoderConfig(name=encoder, show_progress=show_progress)
    given = embeddings is not None or embeddings_from is not None
    plan, report, enc = encode_corpus(
        corpus,
        out,
        encoder,
        split,
        ENCODE_DTYPE,
        shard_size,
        None,
        engine,
        overwrite,
        encode=not given,
        show_progress=show_progress,
    )
    work = report.work
    names = [shard_name(s.index) for s in plan.shards]
    sizes = [passage_shard_rows(work / PASSAGES_DIR / n) for n in names]
    count = sum(sizes)
    if count == 0:
        raise CbqaError(f"{plan.source or 'corpus'}: no non-empty documents to index")
    store = PassageStore(work / PASSAGES_DIR, list(zip(names, sizes)))
    passages_fp = store.fingerprint()
    emb_paths = [work / EMBEDDINGS_DIR / embedding_shard_name(s.index) for s in plan.shards]
    if given:
        if embeddings_from is not None:
            source: Any = _reusable(embeddings_from, encoder, passages_fp)
        else:
            source = ArrayEmbeddings(embeddings) if isinstance(embeddings, np.ndarray) else embeddings
        if source.n != count:
            raise CbqaError(f"embeddings have {source.n} rows, the corpus gives {count} passages")
        _fill_embeddings(source, emb_paths, sizes, _dtype_of(source))
    vectors = EmbeddingShards(emb_paths, sizes)
    name, dim, normalize = _encoder_facts(encoder, enc, vectors.dim)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    dense = build_faiss_index(vectors, spec, use_gpu=use_gpu, show_progress=show_progress, timings=timings)
    build_s = time.perf_counter() - t0
    dense.save(work / FAISS_FILE)
    built_on = "gpu" if dense.on_gpu else "cpu"  # an index FAISS could not move to a GPU stays on CPU
    del dense
    bm25_config = (bm25 if isinstance(bm25, BM25Config) else BM25Config()) if bm25 else None
    if bm25_config:
        remove_tree(work / BM25_DIR)  # what a killed run may have half-written
        BM25Index.build(store, bm25_config, show_progress).save(work / BM25_DIR)
    if not save_embeddings:
        shutil.rmtree(work / EMBEDDINGS_DIR)
    else:
        _keep_embeddings(work, emb_paths, save_embeddings)
    manifest = IndexManifest.model_validate(
        {
            "format": FORMAT,
            "version": VERSION,
            "encoder": {"name": name, "dim": dim, "normalize": normalize},
            "dimension": dim,
            "metric": spec.metric,
            "index": {
                "type": spec.type,
                "params": _resolved_params(spec, count, dim),
                "factory": factory_string(spec, count, dim),
                "built_on": built_on,
                "build_seconds": round(build_s, 3),
                "train_seconds": round(timings.get("train", 0.0), 3),
                "add_seconds": round(timings.get("add", 0.0), 3),
                "allocate_seconds": round(timings.get("allocate", 0.0), 3),
            },
            # The corpus fingerprint is the one a spans store of the same corpus records (cbqa.core.io.fingerprint); the
            # passages fingerprint is that of the passages' JSON lines, which `--verify` and embedding reuse check.
            "corpus": {
                "source": plan.source,
                "fingerprint": plan.fingerprint if plan.source else None,
                "split": asdict(split),
                "shard_size": shard_size,
            },
            "passages": {
                "dir": PASSAGES_DIR,
                "fingerprint": passages_fp,
                "shards": [{"file": n, "rows": r} for n, r in zip(names, sizes)],
            },
            "count": count,
            "bm25": asdict(bm25_config) if bm25_config else None,
            "embeddings": {"dir": EMBEDDINGS_DIR, "dtype": save_embeddings, "shards": [p.name for p in emb_paths]}
            if save_embeddings
            else None,
            "versions": _versions(),
        }
    )
    write_contract(work / MANIFEST, manifest)
    for leftover in (_BUILD, _PLAN):
        (work / leftover).unlink(missing_ok=True)
    replace_dir(work, out)
    return load_index(out, encoder=enc or encoder, use_gpu=use_gpu)


def _dtype_of(source: Any) -> str:
    """The dtype given embeddings are indexed in: their own (float16 stays float16, so shard files can be linked)."""
    dtype = source.dtype if isinstance(source, EmbeddingShards) else source.array.dtype.name
    return "float16" if dtype == "float16" else ENCODE_DTYPE


def _keep_embeddings(work: Path, paths: list[Path], dtype: str) -> None:
    """Make the kept embeddings `dtype` (after the index was built from them as they were). Shards of another dtype
    are converted one at a time into a sibling directory that replaces embeddings/ when complete, so a build killed
    meanwhile still finds every shard as encoded."""
    from retrieval_baseline.embeddings import shard_shape

    if all(shard_shape(p)[1] == dtype for p in paths):
        return
    keep = work / f"{EMBEDDINGS_DIR}.{dtype}"
    remove_tree(keep)
    keep.mkdir()
    for p in paths:
        write_embedding_shard(keep / p.name, np.load(p, mmap_mode="r", allow_pickle=False), dtype)
    old = work / f"{EMBEDDINGS_DIR}.encoded"
    remove_tree(old)
    (work / EMBEDDINGS_DIR).rename(old)
    keep.rename(work / EMBEDDINGS_DIR)
    shutil.rmtree(old)


def _fill_embeddings(source: Any, paths: list[Path], sizes: list[int], dtype: str) -> None:
    """Write the work directory's embedding shards from `source`: hard links to its shard files where the layout and
    dtype agree (no copy of tens of GB), else its rows re-cut into these shards."""
    import os

    same = isinstance(source, EmbeddingShards) and source.sizes == sizes and source.dtype == dtype
    start = 0
    for i, (path, size) in enumerate(zip(paths, sizes)):
        path.unlink(missing_ok=True)
        linked = False
        if same:
            try:
                os.link(source.paths[i], path)
                linked = True
            except OSError:  # another file system, or no hard links there
                pass
        if not linked:
            write_embedding_shard(path, source.rows(start, start + size), dtype)
        start += size


def _resolved_params(spec: IndexSpec, n: int, dim: int) -> dict[str, Any]:
    from retrieval_baseline.faiss_index import resolved

    return resolved(spec, n, dim).params()


def _encoder_facts(encoder: EncoderConfig | Encoder, loaded: Encoder | None, dim: int) -> tuple[str, int, bool]:
    """(canonical name, dimension, normalisation) for the manifest, without loading a model that encoded nothing."""
    if loaded is not None or not isinstance(encoder, EncoderConfig):
        enc = loaded or encoder
        if enc.dim != dim:  # type: ignore[union-attr]
            raise CbqaError(f"encoder {enc.name!r} gives {enc.dim}-d vectors; the embeddings are {dim}-d")  # type: ignore[union-attr]
        return enc.name, enc.dim, bool(enc.normalize)  # type: ignore[union-attr]
    ident = encoder_identity(encoder)
    return ident["name"], dim, bool(ident["normalize"])


def _reusable(source: str | Path, encoder: EncoderConfig | Encoder, passages_fp: str) -> EmbeddingShards:
    manifest = read_manifest(source)
    name = encoder_identity(encoder)["name"]
    if manifest.encoder.name != name:
        raise CbqaError(f"{source}: embeddings come from encoder {manifest.encoder.name!r}, not {name!r}")
    if manifest.passages.fingerprint != passages_fp:
        raise CbqaError(f"{source}: embeddings are of a different corpus or passage split; cannot reuse them")
    return embedding_shards(source, manifest)


def _versions() -> dict[str, str]:
    import faiss

    from cbqa import __version__

    return {"faiss": faiss.__version__, "cbqa": __version__}

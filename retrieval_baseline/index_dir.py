"""An index is a directory, published atomically (built in a work dir next to it, then swapped in by
`cbqa.core.io.replace_dir`):

    manifest.json       encoder, dimension, metric, index type + params, corpus and passages fingerprints, count,
                        the passage and embedding shards with their sizes, versions
    index.faiss         the FAISS index (always saved from CPU, so a GPU-built index loads anywhere)
    passages/           shard-NNNNN.arrow: id, title, text in FAISS row order (Arrow IPC, memory-mapped, by row id)
    embeddings/         shard-NNNNN.npy: the embeddings, same shards (float16 or float32)      [--save-embeddings]
    bm25/               bm25s index (numpy arrays + JSON, memory-mapped on load)               [--bm25]

Loading reads the manifest and the FAISS index (memory-mapped with `mmap=True`) and checks that the shard files are
there; it does not read or hash the passages. `verify_index` (`cbqa index --verify DIR`) reads everything back.
Building: `retrieval_baseline.index_build`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from cbqa.core.contracts import Contract, Count, read_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats import Document
from cbqa.core.shards import RowShard
from retrieval_baseline.bm25 import BM25Index
from retrieval_baseline.embeddings import EMBEDDINGS_DIR, EmbeddingShards
from retrieval_baseline.encoders import Encoder, EncoderConfig, canonical_name
from retrieval_baseline.faiss_index import INDEX_TYPES, FaissIndex, IndexSpec, read_faiss_index
from retrieval_baseline.passage_store import PASSAGES_DIR, PassageStore
from retrieval_baseline.passages import SplitConfig, passages_fingerprint, split_corpus
from retrieval_baseline.retriever import RetrievalIndex

FORMAT = "cbqa-retrieval-index"
VERSION = 3
MANIFEST, FAISS_FILE, BM25_DIR = "manifest.json", "index.faiss", "bm25"


class IndexEncoder(Contract):
    name: StrictStr
    dim: Annotated[StrictInt, Field(ge=1)]
    normalize: StrictBool | None


class IndexInfo(Contract):
    type: Literal[INDEX_TYPES]  # type: ignore[valid-type]
    params: dict[str, Annotated[StrictInt, Field(ge=1)] | None]  # IndexSpec's, for this type (then build facts)

    @field_validator("params")
    @classmethod
    def _known_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        known = [f.name for f in dataclasses.fields(IndexSpec) if f.name not in ("type", "metric")]
        unknown = [k for k in params if k not in known]
        if unknown:
            raise ValueError(f"has unknown key {unknown[0]!r} (known: {', '.join(known)})")
        return params


class IndexSplit(Contract):
    model_config = ConfigDict(extra="forbid")  # SplitConfig's fields: another key would not split the same way
    words: Count = SplitConfig.words
    stride: Annotated[StrictInt, Field(ge=1)] | None = None


class IndexCorpus(Contract):
    source: StrictStr | None = None
    fingerprint: StrictStr | None = None
    split: IndexSplit


class IndexPassages(Contract):
    dir: StrictStr | None = None
    fingerprint: StrictStr
    shards: list[RowShard]


class IndexEmbeddings(Contract):
    dir: StrictStr | None = None
    dtype: StrictStr | None = None
    shards: list[StrictStr]


class IndexManifest(Contract):
    """`manifest.json` of an index directory; what loading reads is checked, build facts and versions are kept."""

    FORMAT = {"format": FORMAT, "version": VERSION}
    WHAT = "retrieval index manifest"
    format: StrictStr
    version: StrictInt
    encoder: IndexEncoder
    dimension: StrictInt
    metric: Literal["ip", "l2"]
    index: IndexInfo
    corpus: IndexCorpus
    passages: IndexPassages
    count: Count
    bm25: dict[str, Any] | None
    embeddings: IndexEmbeddings | None

    @model_validator(mode="after")
    def _same_dimension(self) -> IndexManifest:
        if self.dimension != self.encoder.dim:
            raise ValueError(f"dimension {self.dimension} differs from encoder.dim {self.encoder.dim}")
        return self


def read_manifest(directory: str | Path) -> IndexManifest:
    """The manifest of an index directory; anything malformed is one `CbqaError` line."""
    if not (Path(directory) / MANIFEST).exists():
        raise CbqaError(f"{directory}: not an index directory (no {MANIFEST}); build one with `cbqa index`")
    return read_contract(IndexManifest, Path(directory) / MANIFEST)


def _encoder_for(
    directory: Path, manifest: IndexManifest, encoder: EncoderConfig | Encoder | str | None
) -> tuple[Encoder | None, EncoderConfig | None]:
    m_enc = manifest.encoder
    if encoder is None:
        return None, EncoderConfig(name=m_enc.name, normalize=m_enc.normalize)
    name = encoder if isinstance(encoder, str) else encoder.name
    if canonical_name(name) != m_enc.name:
        raise CbqaError(
            f"{directory} was built with encoder {m_enc.name!r}, not {canonical_name(name)!r}; "
            "query it with the same encoder or rebuild the index"
        )
    if isinstance(encoder, str):
        return None, EncoderConfig(name=encoder, normalize=m_enc.normalize)
    if isinstance(encoder, EncoderConfig):
        return None, encoder
    if encoder.dim != manifest.dimension:
        raise CbqaError(f"{directory} holds {manifest.dimension}-d vectors; encoder {name!r} gives {encoder.dim}-d")
    return encoder, None


def passage_store(directory: str | Path, manifest: IndexManifest) -> PassageStore:
    """The passages of an index directory, checked to be all there (not read)."""
    directory = Path(directory)
    store = PassageStore(directory / PASSAGES_DIR, [(s.file, s.rows) for s in manifest.passages.shards])
    if len(store) != manifest.count:
        raise CbqaError(
            f"{directory}/{MANIFEST}: the passage shards hold {len(store)} rows, count says {manifest.count}"
        )
    missing = store.missing_files()
    if missing:
        raise CbqaError(
            f"{directory}: passage shards missing: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
        )
    return store


def load_index(
    directory: str | Path,
    encoder: EncoderConfig | Encoder | str | None = None,
    corpus: str | Path | Sequence[Document] | None = None,
    use_gpu: bool | None = None,
    verify: bool = False,
    mmap: bool | None = None,
) -> RetrievalIndex:
    """Load an index directory; refuse it if `encoder` or `corpus` (when given) differ from what built it.

    Loading reads the manifest and the FAISS index only (`mmap=True` maps the index instead of reading it; the default,
    None, maps indexes of 1 GiB or more that are searched on the CPU: `faiss_index.auto_mmap`); passages
    are read by row when a search returns them. `verify` first reads everything back (`verify_index`); `corpus`
    re-splits the corpus and compares its passages with the manifest's fingerprint (a pass over the corpus).
    """
    directory = Path(directory).resolve()  # pins one published version (replace_dir swaps a symlink)
    if verify:
        verify_index(directory)
    manifest = read_manifest(directory)
    enc_obj, enc_cfg = _encoder_for(directory, manifest, encoder)
    if corpus is not None:
        check_corpus(directory, manifest, corpus)
    store = passage_store(directory, manifest)
    if not (directory / FAISS_FILE).is_file():
        raise CbqaError(f"{directory}: {FAISS_FILE} is missing")
    dense = _faiss(directory, manifest, use_gpu, mmap)
    bm25 = _bm25(directory, manifest)
    return RetrievalIndex(store, dense, manifest.to_dict(), bm25, encoder=enc_obj, encoder_config=enc_cfg)


def _faiss(directory: Path, manifest: IndexManifest, use_gpu: bool | None, mmap: bool | None) -> FaissIndex:
    spec = IndexSpec(type=manifest.index.type, metric=manifest.metric, **manifest.index.params)
    dense = read_faiss_index(directory / FAISS_FILE, spec, use_gpu=use_gpu, mmap=mmap)
    if dense.ntotal != manifest.count or dense.dim != manifest.dimension:
        raise CbqaError(
            f"{directory}/{FAISS_FILE}: holds {dense.ntotal} x {dense.dim}, manifest says "
            f"{manifest.count} x {manifest.dimension}"
        )
    return dense


def _bm25(directory: Path, manifest: IndexManifest) -> BM25Index | None:
    bm25 = BM25Index.load(directory / BM25_DIR, mmap=True) if manifest.bm25 else None
    if bm25 is not None and bm25.count != manifest.count:
        raise CbqaError(f"{directory}/{BM25_DIR}: holds {bm25.count} passages, manifest says {manifest.count}")
    return bm25


def check_corpus(directory: Path, manifest: IndexManifest, corpus: str | Path | Sequence[Document]) -> None:
    """Refuse the index unless `corpus`, split as the manifest says, gives exactly its passages (streams the corpus)."""
    from cbqa.core.formats.corpus import iter_corpus

    split = SplitConfig(**manifest.corpus.split.to_dict())
    docs = iter_corpus(corpus) if isinstance(corpus, (str, Path)) else corpus
    got, want = passages_fingerprint(split_corpus(docs, split)), manifest.passages.fingerprint
    if got != want:
        raise CbqaError(
            f"{directory} was built from a different corpus (passages {want[:19]}..., "
            f"this corpus gives {got[:19]}...); rebuild the index"
        )


def embedding_shards(directory: str | Path, manifest: IndexManifest | None = None) -> EmbeddingShards:
    """The stored embeddings, memory-mapped (needs `--save-embeddings` at build time)."""
    directory = Path(directory)
    manifest = manifest or read_manifest(directory)
    if not manifest.embeddings:
        raise CbqaError(f"{directory}: no stored embeddings (build it with --save-embeddings float16|float32)")
    paths = [directory / EMBEDDINGS_DIR / f for f in manifest.embeddings.shards]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise CbqaError(f"{directory}: embedding shards missing: {', '.join(missing[:3])}")
    return EmbeddingShards(paths, [s.rows for s in manifest.passages.shards])


def load_embeddings(directory: str | Path):
    """The embeddings an index was built with, in memory as float32 (small indexes; see `embedding_shards`)."""
    return embedding_shards(directory).to_array()


def verify_index(directory: str | Path, corpus: str | Path | Sequence[Document] | None = None) -> dict[str, Any]:
    """Read an index directory back in full: every passage shard (row counts, the passages fingerprint), the embedding
    shards (shapes), the FAISS index (size, dimension), BM25 (count), and with `corpus` its passages. Returns what was
    checked; raises `CbqaError` at the first disagreement."""
    from retrieval_baseline.passage_store import passage_shard_rows

    directory = Path(directory).resolve()
    manifest = read_manifest(directory)
    store = passage_store(directory, manifest)
    for name, size in zip(store.files, store.sizes):
        rows = passage_shard_rows(directory / PASSAGES_DIR / name)
        if rows != size:
            raise CbqaError(f"{directory}/{PASSAGES_DIR}/{name}: holds {rows} passages, the manifest says {size}")
    got = store.fingerprint()
    if got != manifest.passages.fingerprint:
        raise CbqaError(
            f"{directory}: the passages do not match the manifest's passages fingerprint (edited or corrupt)"
        )
    report: dict[str, Any] = {"passages": len(store), "passage_shards": len(store.files), "fingerprint": got}
    if manifest.embeddings:
        emb = embedding_shards(directory, manifest)
        if emb.dim != manifest.dimension:
            raise CbqaError(
                f"{directory}/{EMBEDDINGS_DIR}: {emb.dim}-d embeddings, the manifest says {manifest.dimension}"
            )
        report["embeddings"] = {"rows": emb.n, "dtype": emb.dtype}
    dense = _faiss(directory, manifest, use_gpu=False, mmap=True)
    report["faiss"] = {"ntotal": dense.ntotal, "dim": dense.dim}
    bm25 = _bm25(directory, manifest)
    if bm25 is not None:
        report["bm25"] = bm25.count
    if corpus is not None:
        check_corpus(directory, manifest, corpus)
        report["corpus"] = "same passages"
    return report
